# The jiriaf-fw launcher and agent in one image, like the original JIRIAF jrm-fw image: run
#   docker run --rm -v ~/.local/share/jiriaf-fw:/root/.local/share/jiriaf-fw -v $PWD:/site jiriaf-fw add_wf /site/site.yaml
# NOTE: not built in CI, because the development machines have no Docker engine.
FROM python:3.11-slim-bookworm

# kubectl is not in Debian's archive; mount one or install it from your cluster's distribution.
RUN apt-get update \
    && apt-get install -y --no-install-recommends slurm-client openssh-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/jiriaf-fw
COPY pyproject.toml README.md ./
COPY jiriaf_fw ./jiriaf_fw
COPY templates ./templates
RUN pip install --no-cache-dir .

ENTRYPOINT ["jiriaf-fw"]
CMD ["--help"]
