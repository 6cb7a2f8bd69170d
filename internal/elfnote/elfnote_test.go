package elfnote

import "testing"

func note(name string, typ uint32, desc int) []byte {
	b := make([]byte, 12)
	b[0] = byte(len(name) + 1)
	b[4] = byte(desc)
	b[8] = byte(typ)
	n := append([]byte(name), 0)
	for len(n)%4 != 0 {
		n = append(n, 0)
	}
	b = append(b, n...)
	d := make([]byte, (desc+3)&^3)
	for i := range desc {
		d[i] = byte('a' + i)
	}
	return append(b, d...)
}

func TestParseAndFind(t *testing.T) {
	notes := append(note("GNU", 3, 20), note(XenOwner, XenPhys32Entry, 4)...)
	got := Parse(notes)
	if len(got) != 2 || got[0].Owner != "GNU" || len(got[0].Desc) != 20 || string(got[1].Desc) != "abcd" {
		t.Fatalf("Parse: %+v", got)
	}
	if _, ok := Find(got, XenOwner, XenPhys32Entry); !ok {
		t.Error("PVH note not found")
	}
	if _, ok := Find(Parse(note(XenOwner, 1, 4)), XenOwner, XenPhys32Entry); ok {
		t.Error("note of another type found")
	}
	if n := Parse(notes[:40]); len(n) != 1 {
		t.Errorf("truncated second note: %d notes, want the first only", len(n))
	}
	// A size that would overflow an int must not panic.
	bad := append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0}, make([]byte, 8)...)
	if n := Parse(bad); len(n) != 0 {
		t.Errorf("bad note: %+v", n)
	}
}
