# bosun's container image: built in a Rust image, run from a small distroless one as non-root.
#
#   docker build -t bosun .
#   docker run -p 8888:8888 -v $PWD/config.toml:/etc/bosun/config.toml:ro \
#     -e BOSUN_GITHUB_TOKEN -e BOSUN_GITHUB_WEBHOOK_SECRET -e BOSUN_ADMIN_TOKEN bosun
#
# Templates, the stylesheet and the migrations are compiled into the binary, so the runtime
# image holds the binary alone.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so editing bosun's own code does not rebuild them: a skeleton workspace
# with empty crates, built once, then the real sources.
COPY Cargo.toml Cargo.lock ./
COPY plugins/Cargo.toml plugins/Cargo.toml
COPY fake-forge/Cargo.toml fake-forge/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p src plugins/src fake-forge/src bench/src \
 && echo 'fn main() {}' > src/main.rs && echo 'fn main() {}' > bench/src/main.rs \
 && touch src/lib.rs plugins/src/lib.rs fake-forge/src/lib.rs bench/src/lib.rs \
 && cargo build --release --locked -p bosun --bin bosun \
 && rm -rf src plugins/src fake-forge/src bench/src
COPY . .
# Make sure cargo sees the real sources as newer than the skeleton's build.
RUN touch src/main.rs src/lib.rs plugins/src/lib.rs fake-forge/src/lib.rs \
 && cargo build --release --locked -p bosun --bin bosun \
 && cp target/release/bosun /bosun

# glibc, CA certificates and a non-root user (65532), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /bosun /usr/local/bin/bosun
USER nonroot:nonroot
EXPOSE 8888
# The config's [server] listen must be 0.0.0.0:8888 in a container (BOSUN_SERVER__LISTEN
# overrides it); the database URL and secrets come from the environment.
ENV BOSUN_SERVER__LISTEN=0.0.0.0:8888
ENTRYPOINT ["/usr/local/bin/bosun"]
CMD ["serve", "--config", "/etc/bosun/config.toml"]
