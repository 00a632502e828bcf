"""How the app is started on a server: deploy/local.py starts the replicated topology of compose.yaml here."""
