"""Creates one caller of each role on a running local system, through its API, for scripts/fuzz-api.

    python scripts/fuzz_api_callers.py <base-url> <output-dir>

Writes <output-dir>/<role>.token (an access token) for patient, doctor, hospital and staff (and
"eraser", a patient whose account the fuzzer may erase), and
<output-dir>/ids.json with ids of resources that exist (an exam of the patient, a hospital), so the
fuzzer's examples can name real resources too. Standard library only.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

STAFF = ("staff@clinic.local", "Clinic0Staff")


def call(base, method, path, token=None, body=None, headers=None, form=None, basic=None):
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["content-type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        all_headers["content-type"] = "application/x-www-form-urlencoded"
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    if basic:
        pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        all_headers["authorization"] = f"Basic {pair}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def expect(status, body, *wanted):
    if status not in wanted:
        raise SystemExit(f"fixture step failed: {status} {body}")
    return body


def totp(secret, at=None):
    """The current 6-digit code of a base32 authenticator secret (RFC 6238: SHA-1, 30 s)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30).to_bytes(8, "big")
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def second_factor(base, username, answer, secret=None):
    """Tokens from a sign-in answer: a second-factor step is answered with the code of `secret`
    (SOFTWARE_TOKEN_MFA) or of the authenticator the answer offers to set up (MFA_SETUP)."""
    challenge = answer.get("challenge")
    if challenge is None:
        return answer
    if challenge == "MFA_SETUP":
        secret = answer["secretCode"]
    elif challenge != "SOFTWARE_TOKEN_MFA" or not secret:
        raise SystemExit(f"{username}: sign-in step {challenge} cannot be answered")
    return expect(*call(base, "POST", "/v1/auth/mfa", body={
        "username": username, "session": answer["session"], "code": totp(secret)}), 200)


def sign_in(base, username, password, secret=None):
    answer = expect(*call(base, "POST", "/v1/auth/token",
                          body={"username": username, "password": password}), 200)
    return second_factor(base, username, answer, secret)


PATIENT_PASSWORD = "Passw0rdOk"


def signed_up_patient(base, email, details):
    """Tokens of a new patient: signed up with `details` (name, CPF, birth date, phone),
    confirmed with the local system's fixed code, signed in."""
    expect(*call(base, "POST", "/v1/accounts/patients",
                 body={"email": email, "password": PATIENT_PASSWORD, **details}), 202)
    expect(*call(base, "POST", "/v1/accounts/confirm", body={
        "email": email, "code": "123456", "password": PATIENT_PASSWORD}), 204)
    return sign_in(base, email, PATIENT_PASSWORD)


def cpf(rng):
    digits = [rng.randrange(10) for _ in range(9)]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits[:length], range(length + 1, 1, -1)))
        rest = total * 10 % 11
        digits.append(0 if rest == 10 else rest)
    return "".join(map(str, digits))


def main():
    base, out = sys.argv[1], sys.argv[2]
    # Fresh identities each run, so the same system can be fuzzed again.
    rng = random.Random()
    run = f"{rng.randrange(10**6):06d}"
    staff = sign_in(base, *STAFF, os.environ.get("CLINIC_STAFF_SECRET"))["accessToken"]

    hospital = expect(*call(base, "POST", "/v1/hospitals", staff,
                            {"name": f"Hospital Fuzz {run}", "cnes": f"9{run}"}), 201)
    # Normally seconds; on a system fuzzed before, the outbox's 5-minute sweep may be what brings
    # the registration to the catalogue.
    deadline = time.time() + 400
    while True:
        status, listed = call(base, "GET", "/v1/hospitals?limit=200", staff)
        if status == 200 and any(h["id"] == hospital["id"] for h in listed.get("items", [])):
            break
        if time.time() > deadline:
            raise SystemExit("the hospital never reached the catalogue")
        time.sleep(0.3)
    machine = expect(*call(base, "POST", "/oauth2/token", form={"grant_type": "client_credentials",
                                                               "scope": "clinic/ingest"},
                           basic=(hospital["clientId"], hospital["clientSecret"])), 200)

    doctor_email = f"dra.fuzz.{run}@example.com"
    expect(*call(base, "POST", "/v1/doctors", staff, {
        "email": doctor_email, "name": "Dra. Fuzz", "crm": run, "uf": "SP",
        "specialty": "Clínica", "temporaryPassword": "Temp0rary1x"}), 201)
    challenge = expect(*call(base, "POST", "/v1/auth/token",
                             body={"username": doctor_email, "password": "Temp0rary1x"}), 200)
    # A doctor chooses a password, then sets an authenticator up.
    doctor = second_factor(base, doctor_email, expect(*call(base, "POST", "/v1/auth/new-password", body={
        "username": doctor_email, "session": challenge["session"],
        "newPassword": "Chosen0Password"}), 200))

    patient = signed_up_patient(base, f"paciente.fuzz.{run}@example.com", {
        "name": "Paciente Fuzz", "cpf": cpf(rng), "birthDate": "1990-04-12",
        "phone": "+5511900009999"})
    eraser = signed_up_patient(base, f"apagar.fuzz.{run}@example.com", {
        "name": "Conta Descartável", "cpf": cpf(rng), "birthDate": "1991-05-13",
        "phone": "+5511900008888"})

    slots = expect(*call(base, "PUT", f"/v1/hospitals/{hospital['id']}/slots", staff, [
        {"examType": "Hemograma", "start": "2031-06-01T10:00:00Z", "end": "2031-06-01T10:30:00Z",
         "capacity": 50}]), 200)
    booked = expect(*call(base, "POST", "/v1/appointments", patient["accessToken"],
                          {"slotId": slots["items"][0]["id"]},
                          headers={"idempotency-key": f"fuzz-fixture-{run}"}), 201)

    tokens = {"staff": staff, "hospital": machine["access_token"], "doctor": doctor["accessToken"],
              "patient": patient["accessToken"], "eraser": eraser["accessToken"]}
    for role, token in tokens.items():
        with open(f"{out}/{role}.token", "w") as f:
            f.write(token)
    with open(f"{out}/ids.json", "w") as f:
        json.dump({"hospitalId": hospital["id"], "examId": booked["examId"],
                   "slotId": slots["items"][0]["id"]}, f)


if __name__ == "__main__":
    main()
