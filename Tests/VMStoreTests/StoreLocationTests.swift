import Testing
import VMStore

@Suite struct StoreLocationTests {
    @Test func urlsArePostgresAndEverythingElseIsAPath() {
        #expect(StoreLocation("memtyped.sqlite") == .sqlite(path: "memtyped.sqlite"))
        #expect(StoreLocation("/var/lib/memtyped/vms.sqlite") == .sqlite(path: "/var/lib/memtyped/vms.sqlite"))
        #expect(StoreLocation("postgresql://db/memtyped") == .postgres(url: "postgresql://db/memtyped"))
        #expect(StoreLocation("POSTGRES://db") == .postgres(url: "POSTGRES://db"))
        #expect(StoreLocation("postgresql:/db") == .sqlite(path: "postgresql:/db"))
    }

    @Test(arguments: [
        ("postgresql://memtyped:s3cret@db.example:5432/fleet?sslmode=require",
         "postgresql://memtyped:***@db.example:5432/fleet?sslmode=require"),
        ("postgres://u:p%40ss@h/d", "postgres://u:***@h/d"),
        ("postgresql://u@h/d?password=s3cret&connect_timeout=3", "postgresql://u@h/d?password=***&connect_timeout=3"),
        ("postgresql://h/d?application_name=x&PASSWORD=s3cret", "postgresql://h/d?application_name=x&password=***"),
        ("postgresql:///memtyped?host=/run/postgresql", "postgresql:///memtyped?host=/run/postgresql"),
    ])
    func logsNeverShowAPassword(url: String, shown: String) {
        let location = StoreLocation(url)
        #expect(location.description == shown)
        #expect(!location.description.contains("s3cret"))
    }
}
