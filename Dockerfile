# sessiongate container image.
#
#   docker build -t sessiongate .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/sessiongate.toml:/etc/sessiongate/sessiongate.toml:ro" sessiongate
#
# The image carries only the binary (with its manual pages and shell
# completions), CA certificates and the example config
# (as /etc/sessiongate/sessiongate.toml, with the admin listener moved to
# 0.0.0.0:9090 so it is reachable from outside the container). Mount your own
# config over it: the example's upstream (127.0.0.1:8000) is a placeholder.
#
# No HEALTHCHECK: the runtime image has no shell and no curl. The
# orchestrator probes the admin port instead: GET :9090/healthz (liveness)
# and GET :9090/readyz (readiness: the store answers). deploy/compose.yaml and
# deploy/kubernetes/ show how.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The same build the README uses; --locked: exactly the Cargo.lock versions.
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/sessiongate /out/usr/local/bin/sessiongate
# The manual pages and shell completions, generated from the binary's own
# command line definitions.
RUN mkdir -p /out/usr/local/share/man/man1 \
      /out/usr/local/share/bash-completion/completions \
      /out/usr/local/share/zsh/site-functions \
      /out/usr/local/share/fish/vendor_completions.d \
 && /out/usr/local/bin/sessiongate man --dir /out/usr/local/share/man/man1 \
 && /out/usr/local/bin/sessiongate completions bash > /out/usr/local/share/bash-completion/completions/sessiongate \
 && /out/usr/local/bin/sessiongate completions zsh > /out/usr/local/share/zsh/site-functions/_sessiongate \
 && /out/usr/local/bin/sessiongate completions fish > /out/usr/local/share/fish/vendor_completions.d/sessiongate.fish
# The example config, made reachable in a container, and checked so a broken
# example fails the image build rather than the first start.
RUN mkdir -p /out/etc/sessiongate \
 && sed 's/^listen = "127.0.0.1:9090"$/listen = "0.0.0.0:9090"/' \
      config/sessiongate.example.toml > /out/etc/sessiongate/sessiongate.toml \
 && grep -q '^listen = "0.0.0.0:9090"$' /out/etc/sessiongate/sessiongate.toml \
 && /out/usr/local/bin/sessiongate check --config /out/etc/sessiongate/sessiongate.toml

# distroless/cc: glibc, libgcc and CA certificates; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["sessiongate"]
CMD ["run", "--config", "/etc/sessiongate/sessiongate.toml"]
