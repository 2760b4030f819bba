# planificador itself, as a container that drives the host's engine through its socket,
# and the fleet broker from the same image (entrypoint planificador-broker).
# Build: docker build -t planificador/daemon .
# Run:   see README.md, "Running the daemon in a container" (paths that must match), and
#        deploy/stack.yml for a fleet on Docker Swarm.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config libzmq3-dev cppzmq-dev libtomlplusplus-dev libspdlog-dev \
      nlohmann-json3-dev libcurl4-openssl-dev libcli11-dev libexpected-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY include /src/include
COPY src /src/src
COPY images/seccomp.json /src/images/seccomp.json
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANIFICADOR_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target planificador planctl planificador-broker planificador-sandboxd

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libzmq5 libspdlog1.10 libfmt9 libcurl4 libtomlplusplus3 libcpp-httplib0.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/planificador /build/bin/planctl /build/bin/planificador-broker \
     /build/bin/planificador-sandboxd /usr/local/bin/
# config.toml: a lone daemon (the default command); daemon.toml: a member of the fleet of
# deploy/stack.yml; broker.toml: the broker on loopback, plaintext (docs/fleet.md).
COPY config.toml /etc/planificador/config.toml
COPY deploy/daemon.toml /etc/planificador/daemon.toml
COPY deploy/broker.toml /etc/planificador/broker.toml
LABEL org.planificador.component=daemon
ENTRYPOINT ["/usr/local/bin/planificador"]
CMD ["--config", "/etc/planificador/config.toml"]
