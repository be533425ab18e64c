"""The smallest WSGI app, for tests of gunicorn's own behaviour (tests/test_gunicorn_worker.py):
what is measured is then the server, not Django."""


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
