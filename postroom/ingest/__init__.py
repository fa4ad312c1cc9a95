"""Ingestion: read messages from files (JSONL, CSV, .eml, folders, mbox) or the API, clean and store them.

`readers` turns files into `IncomingMessage`s or `Rejection`s; `service` cleans and stores them.
"""
