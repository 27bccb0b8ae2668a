# memtyped in a container: built with the Swift toolchain image, run on a slim
# Debian with only the libraries the binary links (deploy/check-docker.sh
# compares them with `ldd` of the built binary in CI).
#   docker build -t memtyped .
#   docker run -v memtyped-data:/var/lib/memtyped -p 127.0.0.1:8080:8080 memtyped   (one instance, SQLite in a volume)
#   docker compose up -d          (compose.yaml: two instances on one PostgreSQL)

FROM swift:6.2-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd-dev libsqlite3-dev libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY openapi.yaml ./
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product memtyped \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/memtyped" /out/memtyped \
 && strip --strip-unneeded /out/memtyped

FROM debian:bookworm-slim
# The runtime libraries: the packages owning what memtyped links (the Swift
# runtime is linked in; libc6, libgcc-s1 and libstdc++6 are in the slim image
# already and named so this list is complete). deploy/check-docker.sh checks it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libc6 libgcc-s1 libstdc++6 libmicrohttpd12 libsqlite3-0 libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/memtyped --create-home --shell /usr/sbin/nologin memtyped
COPY --from=build /out/memtyped /usr/bin/memtyped
USER memtyped
WORKDIR /var/lib/memtyped
VOLUME /var/lib/memtyped
ENV MEMTYPED_HOST=0.0.0.0 \
    MEMTYPED_PORT=8080 \
    MEMTYPED_DB=/var/lib/memtyped/memtyped.sqlite
EXPOSE 8080
# /healthz over bash's /dev/tcp: no HTTP client in the image.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MEMTYPED_PORT} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
# SIGTERM (docker stop): stop accepting, finish in-flight requests, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/memtyped"]
