# planificador itself, as a container that drives the host's engine through its socket.
# Build: docker build -t planificador/daemon .
# Run:   see README.md, "Running the daemon in a container" (paths that must match).

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config libzmq3-dev cppzmq-dev libtomlplusplus-dev libspdlog-dev \
      nlohmann-json3-dev libcurl4-openssl-dev libcli11-dev libexpected-dev \
 && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY include /src/include
COPY src /src/src
COPY images/seccomp.json /src/images/seccomp.json
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANIFICADOR_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target planificador planctl planificador-sandboxd

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libzmq5 libspdlog1.10 libfmt9 libcurl4 libtomlplusplus3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/planificador /build/bin/planctl /build/bin/planificador-sandboxd \
     /usr/local/bin/
COPY config.toml /etc/planificador/config.toml
LABEL org.planificador.component=daemon
ENTRYPOINT ["/usr/local/bin/planificador"]
CMD ["--config", "/etc/planificador/config.toml"]
