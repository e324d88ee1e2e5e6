# rnnkit serve in a container: CPU torch, the serve extra, one bundle mounted at /bundle, of any kind that has
# HTTP routes (language models, classifiers, taggers: rnnkit.catalog).
#   docker build -t rnnkit-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/runs/demo/bundle:/bundle:ro" rnnkit-serve
#   docker run --rm -p 8000:8000 -v "$PWD/runs/sst2/bundle:/bundle:ro" rnnkit-serve \
#       rnnkit serve /bundle --host 0.0.0.0 --port 8000 --quantize int8
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
COPY pyproject.toml constraints.txt README.md ./
COPY rnnkit ./rnnkit
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch \
 && pip install --no-cache-dir -c constraints.txt '.[serve,poems]'

RUN useradd --create-home rnnkit
USER rnnkit
EXPOSE 8000
# docker stop sends SIGTERM: in-flight requests finish, new connections are refused, then the process exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["rnnkit", "serve", "/bundle", "--host", "0.0.0.0", "--port", "8000"]
