"""Uploads a file with tuspy (tus 1.0's Python client), retrying across dropped
connections. Usage: python tus_upload.py ENDPOINT FILE
Prints "ok <upload url>" when the upload is complete."""
import os
import sys

from tusclient import client

endpoint, path = sys.argv[1], sys.argv[2]
uploader = client.TusClient(endpoint).uploader(
    file_path=path,
    chunk_size=256 * 1024,
    retries=5,
    retry_delay=0.3,
    metadata={"filename": os.path.basename(path)},
)
uploader.upload()
print(f"ok {uploader.url} offset={uploader.offset}")
