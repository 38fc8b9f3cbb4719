# zkts as a container: one ensemble member (or a standalone server) per container.
#
# Build it with scripts/docker-image.sh, which compiles dist/, stages the production
# node_modules in dist/image/ and makes the base image first. The default base is made
# offline by scripts/docker-base-image.sh (node and its libraries, no shell), so nothing here
# may RUN; with a registry, `--build-arg BASE=node:20-bookworm-slim` works as well.
ARG BASE=zkts-node-base
FROM ${BASE}

# src/testing/server-process.ts's malloc settings (it says why); its node flag is in the ENTRYPOINT.
ENV MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072

COPY package.json /opt/zkts/package.json
COPY bin/zkts.js /opt/zkts/bin/zkts.js
COPY dist/src /opt/zkts/dist/src
COPY dist/image/node_modules /opt/zkts/node_modules
# /conf, /data and /datalog, empty and owned by the uid the server runs as.
COPY --chown=1000:1000 dist/image/owned /

USER 1000:1000
VOLUME ["/data", "/datalog"]
# Client port; zkts carries all peer traffic on the election port (3888 in ZOO_SERVERS).
EXPOSE 2181 3888

HEALTHCHECK --interval=5s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "/opt/zkts/bin/zkts.js", "4lw", "ruok", "127.0.0.1:2181", "--expect", "imok"]

# A mounted /conf/zoo.cfg wins; otherwise it is written from the ZOO_* variables (README).
ENTRYPOINT ["node", "--max-semi-space-size=8", "/opt/zkts/bin/zkts.js"]
CMD ["server", "--from-env", "/conf/zoo.cfg"]

# A digest of dist/src that the container suites compare with theirs, so they never test a stale image.
ARG SOURCE=unknown
LABEL org.zkts.source=${SOURCE}
