package mountinfo

import "testing"

func TestParseMountinfo(t *testing.T) {
	t.Parallel()
	const data = `22 28 0:21 / /proc rw,nosuid - proc proc rw
36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue
99 28 0:55 / /tmp/a\040b\134c rw,nosuid,nodev,relatime - fuse.fsm fsm rw,user_id=0,group_id=0
garbage line
`
	got := Parse(data)
	if len(got) != 3 {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	if e := got[1]; e.MountPoint != "/mnt2" || e.FSType != "ext3" || e.Source != "/dev/root" || e.Dev != "98:0" {
		t.Errorf("entry 1 = %+v", e)
	}
	e, ok := At(got, `/tmp/a b\c`)
	if !ok || e.FSType != "fuse.fsm" || e.Source != "fsm" || e.Dev != "0:55" {
		t.Errorf("mountAt = %+v, %v", e, ok)
	}
	if _, ok := At(got, "/tmp"); ok {
		t.Error("mountAt found /tmp")
	}
}

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`plain`:       "plain",
		`a\040b`:      "a b",
		`tab\011`:     "tab\t",
		`bad\09`:      `bad\09`,
		`end\`:        `end\`,
		`\134\040x\0`: `\ x\0`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMounted(t *testing.T) {
	t.Parallel()
	if mounts, err := Read(); err != nil || len(mounts) == 0 {
		t.Skipf("no mount table here (%v)", err)
	}
	if !Mounted("/") {
		t.Error(`Mounted("/") = false`)
	}
	if dir := t.TempDir(); Mounted(dir) {
		t.Errorf("Mounted(%q) = true for a fresh temp dir", dir)
	}
}
