# The weekly job's image: `analyze` and nothing else. Build: docker build -t analyzer .
# Run on the bundled sample:  docker run --rm analyzer demo
# Run on a project folder:    docker run --rm -v "$PWD:/work" analyzer recommend --env staging
#   (as the folder's owner: the lake it writes there is yours)

# Build stage: uv resolves from uv.lock into a virtual environment; the project is installed
# as a wheel (no sources, no uv, no compilers carried over).
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
# The environment at the path it keeps in the final stage: its scripts name their interpreter.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/analyzer
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# the workspace's other member, analyzer-runtime (analyzer.runtime's own distribution)
COPY analyzer/runtime/pyproject.toml ./analyzer/runtime/
RUN uv sync --locked --no-dev --no-install-workspace
COPY analyzer ./analyzer
COPY queries ./queries
COPY data/sample ./data/sample
RUN uv sync --locked --no-dev --no-editable

# Final stage: the slim interpreter and the environment (the sample data inside the package);
# no uv, compilers or sources. The entrypoint runs `analyze` as the owner of /work (a host
# folder mounted there: its owner; else the image's user 10001), never as root.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 analyzer
COPY --from=build /opt/analyzer /opt/analyzer
COPY deploy/container/entrypoint.sh /usr/local/bin/analyzer-entrypoint
ENV PATH=/opt/analyzer/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /work
ENTRYPOINT ["analyzer-entrypoint"]
CMD ["demo"]
