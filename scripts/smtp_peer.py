#!/usr/bin/env python3
"""An aiosmtpd SMTP server for headroom's delivery tests, started and stopped by the tests.

Each accepted message is written to --out as NNNN.eml (the raw bytes) and NNNN.json (parsed
by Python's email package: headers, every text part with its content type, and every image
part with its Content-ID, size and whether it is a PNG), numbered in
arrival order. Options:
  --tls-dir DIR   make (once) a CA and a certificate for 127.0.0.1/localhost signed by it in
                  DIR (ca.pem, cert.pem, key.pem) and offer STARTTLS, required before AUTH
  --auth U:P      require AUTH (PLAIN/LOGIN) with this user and password
Prints "ready PORT" when it accepts connections.
"""
import argparse, datetime, ipaddress, json, os, ssl, threading, warnings
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def make_certs(d):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(d, exist_ok=True)
    if all(os.path.exists(os.path.join(d, f)) for f in ("ca.pem", "cert.pem", "key.pem")):
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "headroom test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(d, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(os.path.join(d, "key.pem"), "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Store:
    def __init__(self, out):
        self.out = out
        os.makedirs(out, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(self.out) if f.endswith(".eml")]) + 1
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        parts = []
        images = []
        for p in msg.walk():
            if p.get_content_maintype() == "text":
                parts.append({"content_type": p.get_content_type(), "text": p.get_content()})
            elif p.get_content_maintype() == "image":
                data = p.get_payload(decode=True) or b""
                images.append({
                    "content_type": p.get_content_type(),
                    "content_id": str(p.get("Content-ID", "")),
                    "disposition": p.get_content_disposition(),
                    "size": len(data),
                    "png": data.startswith(b"\x89PNG\r\n\x1a\n"),
                })
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth": session.authenticated,
            "tls": session.ssl is not None,
            "headers": {k: str(v) for k, v in msg.items()},
            "multipart": msg.get_content_type(),
            "parts": parts,
            "images": images,
        }
        with open(os.path.join(self.out, f"{n:04}.eml"), "wb") as f:
            f.write(raw)
        with open(os.path.join(self.out, f"{n:04}.json.tmp"), "w") as f:
            json.dump(doc, f)
        os.replace(os.path.join(self.out, f"{n:04}.json.tmp"), os.path.join(self.out, f"{n:04}.json"))
        return "250 Message accepted for delivery"


def main():
    warnings.filterwarnings("ignore", message="Session.login_data")
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tls-dir")
    ap.add_argument("--auth")
    a = ap.parse_args()
    kw = {}
    if a.tls_dir:
        make_certs(a.tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(a.tls_dir, "cert.pem"), os.path.join(a.tls_dir, "key.pem"))
        kw.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        user, pw = a.auth.split(":", 1)

        def check(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == pw
            # handled=False: aiosmtpd answers 535 itself (with True it would stay silent).
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kw.update(authenticator=check, auth_required=True, auth_require_tls=bool(a.tls_dir))
    c = Controller(Store(a.out), hostname="127.0.0.1", port=a.port, **kw)
    c.start()
    print(f"ready {a.port}", flush=True)
    # Until SIGTERM/SIGKILL (the tests stop it to play a server that is down).
    threading.Event().wait()


if __name__ == "__main__":
    main()
