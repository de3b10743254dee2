#!/usr/bin/env python3
"""Strict stand-in for the Redfish resources that sushy-tools 2.2.0 lacks, for tests/firmware_redfish.rs.

It runs sushy-emulator itself (same command line, same config file, same libvirt driver, same HTTPS and basic
auth) and adds or replaces only what forja's firmware lock needs, each with a real effect on the libvirt domain:

  GET   Systems/{id}                    + Boot.BootOrder (BootOptionReference strings, from the per-device
                                          <boot order>), + Boot.BootOptions link, BootSourceOverrideEnabled as
                                          last set (kept in the domain's <metadata>)
  PATCH Systems/{id}                    Boot.{BootOrder, BootSourceOverrideEnabled, BootSourceOverrideTarget,
                                          BootSourceOverrideMode} only. BootOrder -> <boot order='n'/> on exactly
                                          the listed devices; every other device loses its <boot> (not bootable)
  GET   Systems/{id}/BootOptions[/{ref}] one BootOption per <disk>/<interface>, in XML order (Boot0001, ...)
  PATCH Systems/{id}/BootOptions/{ref}   {"BootOptionEnabled": bool}: false drops it from the boot order
  POST  Systems/{id}/BIOS/Actions/Bios.ChangePassword
                                          OldPassword must match ("" when none is set); the new one is kept as a
                                          bcrypt hash in <metadata><forja:state><forja:bios-passwords>
  GET/PATCH Systems/{id}/SecureBoot     {"SecureBootEnable": bool} only (sushy reads any other body as "disable");
                                          + SecureBootDatabases, SecureBootMode from the nvram, SecureBoot.ResetKeys.
                                          Enabling also carries the enrolled keys to sushy's new nvram file and sets
                                          the nvram variable OVMF honours
  POST  Systems/{id}/SecureBoot/Actions/SecureBoot.ResetKeys        DeleteAllKeys | DeletePK | ResetAllKeysToDefault
  GET   Systems/{id}/SecureBoot/SecureBootDatabases[/{db}[/Certificates[/{n}]]]  PK, KEK, db, dbx from the nvram
  POST  Systems/{id}/SecureBoot/SecureBootDatabases/{db}/Certificates
                                          {"CertificateString": PEM, "CertificateType": "PEM"[, "UefiSignatureOwner"]}
                                          -> 201 + Location; the PK only in SetupMode

Strict: a body that is not a JSON object, an unknown or read-only property, a wrong type or a value outside the
allowed list gets 400 with a DMTF Base error (MessageId, RelatedProperties); an unknown resource 404. Key writes
edit the nvram file (virt-firmware), so they need the domain powered off (409 ResourceInUse otherwise).
Boot option ids follow the XML device order: stable while the devices do not change.
"""
import os
import shutil
import sys
import xml.etree.ElementTree as ET

import bcrypt
import flask
import libvirt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from virt.firmware.efi import guids
from virt.firmware.varstore import autodetect

from sushy_tools.emulator import api_utils
from sushy_tools.emulator import main as sushy

app = sushy.app
NS = "urn:forja:test-bmc"
ET.register_namespace("forja", NS)
DATABASES = ("PK", "KEK", "db", "dbx")
DEFAULT_OWNER = "a0baa8a3-041d-48a8-bc87-c36d121b5e3d"
BASE = "Base.1.16."
BOOT_WRITABLE = {"BootOrder", "BootSourceOverrideEnabled", "BootSourceOverrideTarget", "BootSourceOverrideMode"}
OVERRIDE_ENABLED = ("Disabled", "Once", "Continuous")
OVERRIDE_TARGETS = ("None", "Pxe", "Cd", "Hdd", "UefiHttp")


class RfError(Exception):
    """A DMTF error answer."""

    def __init__(self, status, msg_id, message, props=()):
        super().__init__(message)
        self.status, self.msg_id, self.message, self.props = status, msg_id, message, list(props)


@app.errorhandler(RfError)
def _rf_error(e):
    info = {"MessageId": BASE + e.msg_id, "Message": e.message, "RelatedProperties": e.props, "Severity": "Warning"}
    body = {"error": {"code": BASE + e.msg_id, "message": e.message, "@Message.ExtendedInfo": [info]}}
    return flask.jsonify(body), e.status


def body_object():
    data = flask.request.get_json(silent=True)
    if not isinstance(data, dict):
        raise RfError(400, "MalformedJSON", "The request body is not a JSON object.")
    return data


def only(data, allowed, read_only=()):
    for k in data:
        if k in read_only:
            raise RfError(400, "PropertyNotWritable", f"The property {k} is read-only.", [f"#/{k}"])
        if k not in allowed:
            raise RfError(400, "PropertyUnknown", f"The property {k} is not known here.", [f"#/{k}"])


def sys_path(identity):
    return f"/redfish/v1/Systems/{identity}"


# ---------------------------------------------------------------------------------------------- libvirt access
def conn():
    return libvirt.open(app.systems._uri)


def domain(identity):
    uuid = app.systems.uuid(identity)
    c = conn()
    try:
        return c.lookupByUUIDString(uuid)
    finally:
        c.close()


def tree_of(dom):
    return ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def define(tree):
    c = conn()
    try:
        c.defineXML(ET.tostring(tree).decode())
    finally:
        c.close()


def metadata(tree, tag):
    """<metadata><forja:state><forja:TAG>: libvirt keeps one metadata element per namespace, so one container."""
    md = tree.find("metadata")
    if md is None:
        md = ET.SubElement(tree, "metadata")
    for stray in [el for el in md if el.tag.startswith(f"{{{NS}}}") and el.tag != f"{{{NS}}}state"]:
        md.remove(stray)
    state = md.find(f"{{{NS}}}state")
    if state is None:
        state = ET.SubElement(md, f"{{{NS}}}state")
    el = state.find(f"{{{NS}}}{tag}")
    if el is None:
        el = ET.SubElement(state, f"{{{NS}}}{tag}")
    return el


def guarded(view):
    """sushy's instance allow-list check, for the routes added here."""
    return api_utils.ensure_instance_access(view)


# ---------------------------------------------------------------------------------------------- boot options
def devices(tree):
    """[(ref, element, alias, display name, device path)] for every disk and interface, in XML order."""
    out = []
    for el in tree.find("devices"):
        if el.tag == "disk":
            kind, tgt, addr = el.get("device", "disk"), el.find("target"), el.find("address")
            alias = {"disk": "Hdd", "cdrom": "Cd", "floppy": "Floppy"}.get(kind, "Hdd")
            display = f"{kind} {tgt.get('bus')} {tgt.get('dev')}"
            if addr is not None and addr.get("type") == "drive":
                path = f"PciRoot(0x0)/Pci(0x1F,0x2)/Sata({int(addr.get('unit', '0'))},0xFFFF,0x0)"
            elif addr is not None and addr.get("type") == "pci":
                path = f"PciRoot(0x0)/Pci({int(addr.get('slot'), 16):#x},{int(addr.get('function'), 16):#x})"
            else:
                path = "PciRoot(0x0)"
        elif el.tag == "interface":
            mac = el.find("mac").get("address")
            model = el.find("model").get("type") if el.find("model") is not None else "nic"
            alias, display = "Pxe", f"network {model} {mac}"
            path = f"PciRoot(0x0)/MAC({mac.replace(':', '').upper()},0x1)/IPv4(0.0.0.0)"
        else:
            continue
        out.append((f"Boot{len(out) + 1:04X}", el, alias, display, path))
    return out


def current_order(tree):
    devs = devices(tree)
    legacy = [b.get("dev") for b in tree.find("os").findall("boot")]
    if legacy:  # <os><boot dev=...>: every device of each kind, in XML order
        kinds = {"hd": ("disk", "disk"), "cdrom": ("disk", "cdrom"), "fd": ("disk", "floppy"), "network": ("interface", None)}
        refs = []
        for dev in legacy:
            tag, kind = kinds.get(dev, (None, None))
            refs += [r for r, el, *_ in devs if el.tag == tag and (kind is None or el.get("device", "disk") == kind)]
        return refs
    ordered = sorted((int(el.find("boot").get("order")), r) for r, el, *_ in devs if el.find("boot") is not None)
    return [r for _, r in ordered]


def set_order(identity, refs):
    dom = domain(identity)
    tree = tree_of(dom)
    devs = {r: el for r, el, *_ in devices(tree)}
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise RfError(400, "PropertyValueTypeError", "BootOrder must be an array of strings.", ["#/Boot/BootOrder"])
    bad = [r for r in refs if r not in devs]
    if bad or len(set(refs)) != len(refs):
        raise RfError(400, "PropertyValueNotInList",
                      f"BootOrder {refs} holds unknown or repeated references; this system has {sorted(devs)}.",
                      ["#/Boot/BootOrder"])
    os_el = tree.find("os")
    for b in os_el.findall("boot"):
        os_el.remove(b)
    for el in devs.values():
        for b in el.findall("boot"):
            el.remove(b)
    for i, r in enumerate(refs):
        el = devs[r]
        boot = ET.Element("boot", order=str(i + 1))
        addr = el.find("address")  # libvirt wants <boot> before <address>
        el.insert(list(el).index(addr) if addr is not None else len(el), boot)
    define(tree)


@app.route("/redfish/v1/Systems/<identity>/BootOptions", methods=["GET"])
@guarded
def boot_options(identity):
    members = [{"@odata.id": f"{sys_path(identity)}/BootOptions/{r}"} for r, *_ in devices(tree_of(domain(identity)))]
    return flask.jsonify({"@odata.type": "#BootOptionCollection.BootOptionCollection",
                          "@odata.id": f"{sys_path(identity)}/BootOptions", "Name": "Boot Options",
                          "Members@odata.count": len(members), "Members": members})


@app.route("/redfish/v1/Systems/<identity>/BootOptions/<ref>", methods=["GET", "PATCH"])
@guarded
def boot_option(identity, ref):
    tree = tree_of(domain(identity))
    order = current_order(tree)
    found = [d for d in devices(tree) if d[0] == ref]
    if not found:
        raise RfError(404, "ResourceNotFound", f"There is no BootOption {ref}.")
    if flask.request.method == "PATCH":
        data = body_object()
        only(data, {"BootOptionEnabled"}, ("BootOptionReference", "Alias", "DisplayName", "UefiDevicePath", "Id"))
        if not isinstance(data.get("BootOptionEnabled"), bool):
            raise RfError(400, "PropertyValueTypeError", "BootOptionEnabled must be a boolean.", ["#/BootOptionEnabled"])
        on = data["BootOptionEnabled"]
        set_order(identity, [r for r in order if r != ref] + ([ref] if on and ref not in order else []))
        return "", 204
    r, _, alias, display, path = found[0]
    return flask.jsonify({"@odata.type": "#BootOption.v1_0_6.BootOption",
                          "@odata.id": f"{sys_path(identity)}/BootOptions/{r}", "Id": r, "Name": r,
                          "BootOptionReference": r, "DisplayName": display, "Alias": alias,
                          "UefiDevicePath": path, "BootOptionEnabled": r in order})


# ---------------------------------------------------------------------------------------------- the system
_sushy_system = app.view_functions["system_resource"]


def system_resource(identity):
    if flask.request.method == "PATCH":
        return patch_system(identity)
    resp = _sushy_system(identity=identity)
    if getattr(resp, "status_code", 200) != 200 or not resp.is_json:
        return resp
    body = resp.get_json()
    tree = tree_of(domain(identity))
    body["Boot"]["BootOrder"] = current_order(tree)
    body["Boot"]["BootOptions"] = {"@odata.id": f"{sys_path(identity)}/BootOptions"}
    body["Boot"]["BootSourceOverrideEnabled"] = metadata(tree, "boot").get("override-enabled", "Continuous")
    return flask.jsonify(body)


def patch_system(identity):
    data = body_object()
    only(data, {"Boot"}, ("Id", "UUID", "PowerState", "Name"))
    boot = data["Boot"]
    if not isinstance(boot, dict) or not boot:
        raise RfError(400, "PropertyValueTypeError", "Boot must be a non-empty object.", ["#/Boot"])
    for k in boot:
        if k not in BOOT_WRITABLE:
            raise RfError(400, "PropertyUnknown", f"Boot/{k} is not a writable property here.", [f"#/Boot/{k}"])
    enabled, target = boot.get("BootSourceOverrideEnabled"), boot.get("BootSourceOverrideTarget")
    if enabled is not None and enabled not in OVERRIDE_ENABLED:
        raise RfError(400, "PropertyValueNotInList", f"BootSourceOverrideEnabled {enabled!r} is not one of "
                      f"{OVERRIDE_ENABLED}.", ["#/Boot/BootSourceOverrideEnabled"])
    if target is not None and target not in OVERRIDE_TARGETS:
        raise RfError(400, "PropertyValueNotInList", f"BootSourceOverrideTarget {target!r} is not one of "
                      f"{OVERRIDE_TARGETS}.", ["#/Boot/BootSourceOverrideTarget"])
    if "BootOrder" in boot:
        if target not in (None, "None"):
            raise RfError(400, "PropertyValueConflict", "BootOrder and an override target cannot be set together.",
                          ["#/Boot/BootOrder", "#/Boot/BootSourceOverrideTarget"])
        set_order(identity, boot["BootOrder"])
    if target not in (None, "None") or "BootSourceOverrideMode" in boot:
        rest = {k: v for k, v in boot.items() if k in ("BootSourceOverrideTarget", "BootSourceOverrideMode")}
        with app.test_request_context(flask.request.path, method="PATCH", json={"Boot": rest}):
            resp = _sushy_system(identity=identity)
        if getattr(resp, "status_code", 204) >= 300:
            return resp
        if enabled is None:
            enabled = "Continuous"  # libvirt has no one-time override: a target is persistent
    if enabled is not None:
        tree = tree_of(domain(identity))
        metadata(tree, "boot").set("override-enabled", enabled)
        define(tree)
    return "", 204


app.view_functions["system_resource"] = guarded(system_resource)


# ---------------------------------------------------------------------------------------------- BIOS password
@app.route("/redfish/v1/Systems/<identity>/BIOS/Actions/Bios.ChangePassword", methods=["POST"])
@guarded
def change_password(identity):
    data = body_object()
    params = ("PasswordName", "OldPassword", "NewPassword")
    for p in params:
        if p not in data:
            raise RfError(400, "ActionParameterMissing", f"Bios.ChangePassword requires {p}.", [f"#/{p}"])
        if not isinstance(data[p], str):
            raise RfError(400, "ActionParameterValueTypeError", f"{p} must be a string.", [f"#/{p}"])
    unknown = sorted(set(data) - set(params))
    if unknown:
        raise RfError(400, "ActionParameterUnknown", f"Bios.ChangePassword has no parameter {unknown[0]}.",
                      [f"#/{unknown[0]}"])
    name = data["PasswordName"]
    if name not in ("AdminPassword", "UserPassword"):
        raise RfError(400, "ActionParameterValueNotInList", f"PasswordName {name!r} is not AdminPassword or "
                      "UserPassword.", ["#/PasswordName"])
    tree = tree_of(domain(identity))
    store = metadata(tree, "bios-passwords")
    cur = store.find(f"{{{NS}}}password[@name='{name}']")
    matches = data["OldPassword"] == "" if cur is None else \
        bcrypt.checkpw(data["OldPassword"].encode(), cur.get("bcrypt").encode())
    if not matches:
        raise RfError(400, "ActionParameterValueError", "OldPassword is not the current password.", ["#/OldPassword"])
    if cur is not None:
        store.remove(cur)
    if data["NewPassword"]:
        hashed = bcrypt.hashpw(data["NewPassword"].encode(), bcrypt.gensalt(rounds=4)).decode()
        ET.SubElement(store, f"{{{NS}}}password", name=name, bcrypt=hashed)
    define(tree)
    return "", 204


# ---------------------------------------------------------------------------------------------- Secure Boot
def nvram(tree):
    nv = tree.find("os/nvram")
    if nv is None or not (nv.text or "").strip():
        raise RfError(400, "ActionNotSupported", "The domain names no nvram file (firmware autoselection).")
    return nv.text.strip(), nv.get("template")


def varlist_of(tree, writing=False):
    path, template = nvram(tree)
    if not os.path.exists(path):
        if writing:
            shutil.copyfile(template, path)  # libvirt copies the template only at the first start
        else:
            path = template
    store = autodetect.open_varstore(path)
    return path, store, store.get_varlist()


def powered_off(dom):
    if dom.isActive():
        raise RfError(409, "ResourceInUse", "Power the system off first: the key databases live in its nvram file.")


def mode(varlist):
    pk = varlist.get("PK")
    if pk is None or not pk.sigdb:
        return "SetupMode"
    deployed = varlist.get("DeployedMode")
    return "DeployedMode" if deployed is not None and deployed.data[:1] == b"\x01" else "UserMode"


def certs(varlist, db):
    var = varlist.get(db)
    if var is None or var.sigdb is None:
        return []
    return [(sl.x509, str(sl[0]["guid"])) for sl in var.sigdb if sl.x509 is not None]


_sushy_secure_boot = app.view_functions["secure_boot"]


def secure_boot(identity):
    if flask.request.method == "PATCH":
        data = body_object()
        only(data, {"SecureBootEnable"}, ("SecureBootMode", "SecureBootCurrentBoot", "SecureBootDatabases", "Id"))
        if not isinstance(data.get("SecureBootEnable"), bool):
            raise RfError(400, "PropertyValueTypeError", "SecureBootEnable (boolean) is required.",
                          ["#/SecureBootEnable"])
        dom = domain(identity)
        old_path, _ = nvram(tree_of(dom))
        resp = _sushy_secure_boot(identity=identity)  # sushy: <loader secure=>, nvram template and file name
        after = tree_of(dom)
        new_path, _ = nvram(after)
        if not dom.isActive():
            # the keys enrolled so far live in the old file: carry them to sushy's new one, then set the variable
            # OVMF honours once a PK is enrolled
            if new_path != old_path and os.path.exists(old_path):
                shutil.copyfile(old_path, new_path)
            path, store, varlist = varlist_of(after, writing=True)
            varlist.set_bool("SecureBootEnable", data["SecureBootEnable"])
            store.write_varstore(path, varlist)
        return resp
    resp = _sushy_secure_boot(identity=identity)
    if getattr(resp, "status_code", 200) != 200 or not resp.is_json:
        return resp
    body = resp.get_json()
    _, _, varlist = varlist_of(tree_of(domain(identity)))
    body["SecureBootMode"] = mode(varlist)
    body["SecureBootDatabases"] = {"@odata.id": f"{sys_path(identity)}/SecureBoot/SecureBootDatabases"}
    body["Actions"] = {"#SecureBoot.ResetKeys": {
        "target": f"{sys_path(identity)}/SecureBoot/Actions/SecureBoot.ResetKeys",
        "ResetKeysType@Redfish.AllowableValues": ["ResetAllKeysToDefault", "DeleteAllKeys", "DeletePK"]}}
    return flask.jsonify(body)


app.view_functions["secure_boot"] = guarded(secure_boot)


@app.route("/redfish/v1/Systems/<identity>/SecureBoot/Actions/SecureBoot.ResetKeys", methods=["POST"])
@guarded
def reset_keys(identity):
    data = body_object()
    only(data, {"ResetKeysType"})
    kind = data.get("ResetKeysType")
    if kind not in ("ResetAllKeysToDefault", "DeleteAllKeys", "DeletePK"):
        raise RfError(400, "ActionParameterValueNotInList", f"ResetKeysType {kind!r} is not supported.",
                      ["#/ResetKeysType"])
    dom = domain(identity)
    powered_off(dom)
    tree = tree_of(dom)
    path, template = nvram(tree)
    if kind == "ResetAllKeysToDefault":
        shutil.copyfile(template, path)
        return "", 204
    path, store, varlist = varlist_of(tree, writing=True)
    for db in ("PK",) if kind == "DeletePK" else DATABASES:
        if varlist.get(db):
            varlist.delete(db)
    store.write_varstore(path, varlist)
    return "", 204


def database_of(db):
    if db not in DATABASES:
        raise RfError(404, "ResourceNotFound", f"There is no Secure Boot database {db}.")
    return db


@app.route("/redfish/v1/Systems/<identity>/SecureBoot/SecureBootDatabases", methods=["GET"])
@guarded
def databases(identity):
    domain(identity)
    base = f"{sys_path(identity)}/SecureBoot/SecureBootDatabases"
    return flask.jsonify({"@odata.type": "#SecureBootDatabaseCollection.SecureBootDatabaseCollection",
                          "@odata.id": base, "Name": "UEFI Secure Boot Databases",
                          "Members@odata.count": len(DATABASES),
                          "Members": [{"@odata.id": f"{base}/{db}"} for db in DATABASES]})


@app.route("/redfish/v1/Systems/<identity>/SecureBoot/SecureBootDatabases/<db>", methods=["GET"])
@guarded
def database(identity, db):
    database_of(db)
    domain(identity)
    base = f"{sys_path(identity)}/SecureBoot/SecureBootDatabases/{db}"
    return flask.jsonify({"@odata.type": "#SecureBootDatabase.v1_0_3.SecureBootDatabase", "@odata.id": base,
                          "Id": db, "Name": f"{db} database", "DatabaseId": db,
                          "Certificates": {"@odata.id": f"{base}/Certificates"}})


def name_of(name):
    out = {}
    for oid, key in ((x509.NameOID.COMMON_NAME, "CommonName"), (x509.NameOID.ORGANIZATION_NAME, "Organization")):
        values = name.get_attributes_for_oid(oid)
        if values:
            out[key] = values[0].value
    return out


def certificate_body(location, n, cert, owner):
    return {"@odata.type": "#Certificate.v1_11_0.Certificate", "@odata.id": location, "Id": str(n),
            "Name": f"Certificate {n}", "CertificateType": "PEM",
            "CertificateString": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "Subject": name_of(cert.subject), "Issuer": name_of(cert.issuer), "UefiSignatureOwner": owner}


@app.route("/redfish/v1/Systems/<identity>/SecureBoot/SecureBootDatabases/<db>/Certificates",
           methods=["GET", "POST"])
@guarded
def certificates(identity, db):
    database_of(db)
    dom = domain(identity)
    base = f"{sys_path(identity)}/SecureBoot/SecureBootDatabases/{db}/Certificates"
    tree = tree_of(dom)
    if flask.request.method == "GET":
        _, _, varlist = varlist_of(tree)
        n = len(certs(varlist, db))
        return flask.jsonify({"@odata.type": "#CertificateCollection.CertificateCollection", "@odata.id": base,
                              "Name": f"{db} certificates", "Members@odata.count": n,
                              "Members": [{"@odata.id": f"{base}/{i + 1}"} for i in range(n)],
                              "@Redfish.SupportedCertificates": ["PEM"]})
    data = body_object()
    only(data, {"CertificateString", "CertificateType", "UefiSignatureOwner"})
    for p in ("CertificateString", "CertificateType"):
        if not isinstance(data.get(p), str):
            raise RfError(400, "PropertyMissing", f"{p} (string) is required to create a certificate.", [f"#/{p}"])
    if data["CertificateType"] != "PEM":
        raise RfError(400, "PropertyValueNotInList", "CertificateType must be PEM.", ["#/CertificateType"])
    owner = data.get("UefiSignatureOwner", DEFAULT_OWNER)
    try:
        cert = x509.load_pem_x509_certificate(data["CertificateString"].encode())
        owner_guid = guids.parse_str(owner)
    except ValueError as e:
        raise RfError(400, "PropertyValueFormatError", f"Not a PEM certificate or GUID: {e}",
                      ["#/CertificateString", "#/UefiSignatureOwner"])
    powered_off(dom)
    path, store, varlist = varlist_of(tree, writing=True)
    if db == "PK" and mode(varlist) != "SetupMode":
        raise RfError(409, "ResourceInUse", "A PK is enrolled: reset the keys (SecureBoot.ResetKeys) first.")
    var = varlist.add_cert_prepare(db, replace=(db == "PK"))
    var.sigdb_add_cert_data(owner_guid, cert.public_bytes(serialization.Encoding.DER))
    store.write_varstore(path, varlist)
    n = len(certs(varlist, db))
    resp = flask.jsonify(certificate_body(f"{base}/{n}", n, cert, owner))
    resp.status_code = 201
    resp.headers["Location"] = f"{base}/{n}"
    return resp


@app.route("/redfish/v1/Systems/<identity>/SecureBoot/SecureBootDatabases/<db>/Certificates/<int:n>",
           methods=["GET"])
@guarded
def certificate(identity, db, n):
    database_of(db)
    _, _, varlist = varlist_of(tree_of(domain(identity)))
    found = certs(varlist, db)
    if not 1 <= n <= len(found):
        raise RfError(404, "ResourceNotFound", f"There is no certificate {n} in {db}.")
    cert, owner = found[n - 1]
    return flask.jsonify(certificate_body(flask.request.path, n, cert, owner))


if __name__ == "__main__":
    sys.exit(sushy.main())
