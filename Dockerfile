# One image for every Python service of docker-compose.yml (web, worker, beat); the command differs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app

# Dependencies first, so editing code does not re-run pip. All pinned packages ship manylinux
# wheels (psycopg2-binary, shapely, Pillow), so no compiler or system libraries are needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root (read-only to the app); only collected static files and uploads
# are writable by the unprivileged user the services run as.
COPY . .
RUN useradd --system --create-home --uid 1000 civic \
    && mkdir -p /app/staticfiles /app/media \
    && chown civic:civic /app/staticfiles /app/media
USER civic

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "-b", "0.0.0.0:8000", "-w", "3"]
