# The dashboard for a class on one server, on Streamlit's recipe:
#   docker build -t digits .
#   docker run -p 8501:8501 -v /path/to/mnist.npz:/data/mnist.npz:ro \
#     -v digits-models:/models -v /path/to/secrets.toml:/app/.streamlit/secrets.toml:ro digits
FROM python:3.11-slim

WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*

COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY app.py ./
COPY pages pages
COPY model model
COPY training training
COPY deploy/config.toml .streamlit/config.toml

ENV DIGITS_PUBLIC=1 \
    MODEL_REGISTRY=/models \
    MNIST_PATH=/data/mnist.npz \
    TF_CPP_MIN_LOG_LEVEL=2

EXPOSE 8501
HEALTHCHECK CMD curl --fail http://localhost:8501/_stcore/health || exit 1
ENTRYPOINT ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
