print("memtyped: not yet")
