#!/usr/bin/env python3
"""Builds a busybox image offline from Debian's busybox-static, as a docker-archive that containerd imports.

    python3 examples/images/busybox-image.py OUT.tar [NAME]

NAME defaults to docker.io/library/busybox:1.35 (images are imported under fully qualified names). The image holds
/bin/busybox with a link per applet, /tmp, glibc's name-service modules (the static busybox loads them for name
lookups) and runs `sh` by default, as the Docker Hub image does. Drop the archive
into DATA/agent/images/ and the node agent imports it; pods then use it with imagePullPolicy IfNotPresent or Never.
"""
import hashlib, io, json, os, subprocess, sys, tarfile

BUSYBOX = "/bin/busybox"
ARCH_DIR = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(os.uname().machine, "x86_64-linux-gnu")
NSS_LIBS = [f"/lib/{ARCH_DIR}/{name}" for name in ("libc.so.6", "libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1")] \
    + ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"]


def layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
            tar.addfile(info)
        added_dirs = set()

        def add_file(name, source):
            info = tar.gettarinfo(source, name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with open(source, "rb") as f:
                tar.addfile(info, f)
        for d in ("bin", "etc", "root", "var", "var/www"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        info = tar.gettarinfo(BUSYBOX, "bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        with open(BUSYBOX, "rb") as f:
            tar.addfile(info, f)
        applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo("bin/" + applet)
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            tar.addfile(link)
        # Debian's busybox is static glibc: its name lookups (wget, ping) load glibc's NSS modules at run time, so the
        # machine's libc, loader and NSS modules go in too, with an nsswitch.conf.
        for lib in NSS_LIBS:
            real = os.path.realpath(lib)
            if not os.path.exists(real):
                continue
            parent = os.path.dirname(lib).lstrip("/")
            for d in (parent.split("/")[0], parent):
                if d not in added_dirs:
                    add_dir(d)
                    added_dirs.add(d)
            if lib.startswith("/lib64/") or lib == "/lib/ld-linux-aarch64.so.1":
                # The loader's well-known path, pointing at the copy in the library directory.
                link = tarfile.TarInfo(lib.lstrip("/"))
                link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, f"/lib/{ARCH_DIR}/{os.path.basename(lib)}", 0o777, 0
                tar.addfile(link)
            else:
                add_file(lib.lstrip("/"), real)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
                           ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
                           ("etc/nsswitch.conf", "hosts: files dns\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out, name = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "docker.io/library/busybox:1.35"
    if not os.path.exists(BUSYBOX):
        sys.exit(f"{BUSYBOX} is missing (Debian: apt install busybox-static)")
    data = layer()
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = json.dumps({
        "architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id[7:] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]).encode()
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry, blob in ((config_name, config), (layer_name, data), ("manifest.json", manifest)):
            info = tarfile.TarInfo(entry)
            info.size, info.mode, info.mtime = len(blob), 0o644, 0
            tar.addfile(info, io.BytesIO(blob))
    print(f"{out}: {name} ({len(data) // 1024} KiB layer)")


if __name__ == "__main__":
    main()
