# metertwin in a container: a KPM31 twin serving Modbus TCP on port 5020.
#   docker build -t metertwin .
#   docker run --rm -p 5020:5020 metertwin
# Inside the container the twin binds 0.0.0.0 so the published port reaches it.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
COPY profiles ./profiles
COPY benches ./benches
COPY examples ./examples
RUN cargo build --release --locked --bin metertwin

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home metertwin
COPY --from=build /src/target/release/metertwin /usr/local/bin/metertwin
COPY --from=build /src/profiles /usr/share/metertwin/profiles
USER metertwin
EXPOSE 5020
ENTRYPOINT ["metertwin"]
CMD ["run", "--tcp", "0.0.0.0:5020"]
