"""The Debian package (packaging/, `make deb`): builds it with CPack from the build dir that made
$MOP_BIN (into a temp dir), then checks it with Debian's own tools: dpkg-deb's control fields and
file list, the conffile, the maintainer scripts, the package's files unpacked into a temp root
(its mop runs `--version`; its configuration keeps the store in /var/lib/mop), where the
container has it, `systemd-analyze verify` on the unit, and, as root with mmdebstrap, an install
with apt into a fresh Debian 12 root made for the test (apt fetches the package's dependencies from
this machine's Debian mirror; the ASan build's package is left out: it needs the sanitizer
runtime, which no release links). Nothing is installed on this machine."""

import os
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.path.dirname(os.path.abspath(os.environ.get("MOP_BIN", "../../build/mop")))


def run(*cmd, **kw):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True,
                          timeout=300, **kw).stdout


@unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-deb"), "needs cpack and dpkg-deb")
class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mop-deb-")
        run("cpack", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-G", "DEB", "-B", cls.tmp)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.version = run(os.environ["MOP_BIN"], "--version").strip().split(" ")[1]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return run("dpkg-deb", "--field", self.deb, name).strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "mop")
        self.assertEqual(self.field("Version"), self.version)
        self.assertEqual(self.field("Architecture"), run("dpkg", "--print-architecture").strip())
        depends = self.field("Depends")
        # dpkg-shlibdeps found the shared libraries the binary links (RocksDB, protobuf, ...).
        for lib in ("adduser", "librocksdb", "libprotobuf", "libc6"):
            self.assertIn(lib, depends)

    def test_files_conffile_and_scripts(self):
        listing = run("dpkg-deb", "--contents", self.deb)
        paths = {line.split()[-1] for line in listing.splitlines()}
        for path in ("./usr/bin/mop", "./etc/mop/standalone.conf", "./lib/systemd/system/mop.service",
                     "./usr/share/doc/mop/README.md", "./usr/share/man/man1/mop.1.gz"):
            self.assertIn(path, paths)
        control = os.path.join(self.tmp, "control")
        run("dpkg-deb", "--control", self.deb, control)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/mop/standalone.conf"])
        for script in ("postinst", "prerm"):
            self.assertTrue(os.access(os.path.join(control, script), os.X_OK), script)
        with open(os.path.join(control, "postinst")) as f:
            self.assertIn("adduser --system --group --home /var/lib/mop", f.read())

    def test_unpacked_binary_runs_and_conf_uses_var_lib_mop(self):
        root = os.path.join(self.tmp, "root")
        run("dpkg-deb", "--extract", self.deb, root)
        self.assertEqual(run(os.path.join(root, "usr/bin/mop"), "--version").strip(), "mop " + self.version)
        with open(os.path.join(root, "etc/mop/standalone.conf")) as f:
            conf = f.read().splitlines()
        self.assertIn("dataDir=/var/lib/mop", conf)
        self.assertNotIn("dataDir=./data", conf)
        with open(os.path.join(root, "lib/systemd/system/mop.service")) as f:
            unit = f.read().splitlines()
        for line in ("User=mop", "StateDirectory=mop", "ExecStart=/usr/bin/mop standalone -c /etc/mop/standalone.conf"):
            self.assertIn(line, unit)

    @unittest.skipUnless(shutil.which("groff"), "no groff")
    def test_man_page_is_mop_help(self):
        root = os.path.join(self.tmp, "man")
        run("dpkg-deb", "--extract", self.deb, root)
        page = run("zcat", os.path.join(root, "usr/share/man/man1/mop.1.gz"))
        self.assertIn('.TH MOP 1 "" "mop %s"' % self.version, page)
        # Every line of `mop --help` is in the page (roff escapes aside).
        for line in run(os.environ["MOP_BIN"], "--help").splitlines()[:5]:
            self.assertIn(line.replace("\\", "\\\\"), page)
        # groff reads it without a warning.
        out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual((out.returncode, out.stdout), (0, ""))

    @unittest.skipUnless(shutil.which("systemd-analyze") and os.path.exists("/lib/systemd/system/sysinit.target"),
                         "no systemd-analyze, or no systemd units to verify against")
    def test_unit_verifies(self):
        """`systemd-analyze verify` on the unpacked tree as root, with this machine's units beside
        mop's (the targets a service depends on by default): an error fails, and so does any
        warning about mop.service (an unknown key is only a warning)."""
        root = os.path.join(self.tmp, "verify")
        run("dpkg-deb", "--extract", self.deb, root)
        units = os.path.join(root, "lib/systemd/system")
        for name in os.listdir("/lib/systemd/system"):
            if not os.path.exists(os.path.join(units, name)):
                src = os.path.join("/lib/systemd/system", name)
                if os.path.isfile(src) and not os.path.islink(src):
                    shutil.copy(src, units)
        out = subprocess.run(["systemd-analyze", "verify", "--root=" + root, os.path.join(units, "mop.service")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual([l for l in out.stdout.splitlines() if "mop.service" in l], [])

    @unittest.skipUnless(shutil.which("mmdebstrap") and os.geteuid() == 0, "needs mmdebstrap and root")
    def test_installs_on_a_fresh_debian_12(self):
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            if "MOP_SANITIZE:BOOL=ON" in f.read():
                self.skipTest("an ASan build: its package needs the sanitizer runtime")
        root = os.path.join(self.tmp, "debian12")
        out = os.path.join(self.tmp, "installed.txt")
        name = os.path.basename(self.deb)
        # bookworm from this machine's own Debian mirror (the first deb.debian.org-style URI apt uses).
        mirror = "http://deb.debian.org/debian"
        for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        words = line.split()
                        if words[:1] == ["URIs:"] or (words[:1] == ["deb"] and len(words) > 1):
                            if "security" not in words[1]:
                                mirror = words[1].rstrip("/")
                                break
                break
        show = ("mop --version; id -nu mop; test -f /etc/mop/standalone.conf && echo conf; "
                "test -f /lib/systemd/system/mop.service && echo unit; dpkg-query -W -f='\\${Status}' mop")
        made = subprocess.run(["mmdebstrap", "--variant=apt", "--mode=root", "--quiet",
                        "--customize-hook=copy-in %s /tmp" % self.deb,
                        "--customize-hook=chroot \"$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/" + name,
                        "--customize-hook=chroot \"$1\" sh -c \"%s\" > %s 2>&1" % (show, out),
                        "bookworm", root, mirror],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
        self.assertEqual(made.returncode, 0, made.stdout[-3000:])
        with open(out) as f:
            lines = f.read().splitlines()
        shutil.rmtree(root, ignore_errors=True)
        self.assertEqual(lines, ["mop " + self.version, "mop", "conf", "unit", "install ok installed"])


if __name__ == "__main__":
    unittest.main()
