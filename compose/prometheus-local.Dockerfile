# Prometheus from a binary already on this host (e.g. Debian's `prometheus`
# package), for machines with no registry access. The build context is a
# root file system staged by scripts/build-images.sh: bin/prometheus plus
# the shared libraries `ldd` lists, and an empty prometheus/ directory.
FROM scratch
COPY bin/ /bin/
COPY lib/ /lib/
COPY lib64/ /lib64/
COPY etc/ /etc/
COPY --chown=65534:65534 prometheus/ /prometheus/
USER 65534:65534
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
