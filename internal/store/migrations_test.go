package store

import (
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"m/0002_b.sql":  {Data: []byte("B")},
		"m/0001_a.sql":  {Data: []byte("A")},
		"m/0010_c.sql":  {Data: []byte("C")},
		"other/x.sql":   {Data: []byte("X")},
		"m/0003_d.sql":  {Data: []byte("D")},
		"m/0004_e.sql":  {Data: []byte("E")},
		"m/0005_f.sql":  {Data: []byte("F")},
		"m/0006_g.sql":  {Data: []byte("G")},
		"m/0007_h.sql":  {Data: []byte("H")},
		"m/0008_i.sql":  {Data: []byte("I")},
		"m/0009_j.sql":  {Data: []byte("J")},
		"m/0011_k.sql":  {Data: []byte("K")},
		"m/0012_l.sql":  {Data: []byte("L")},
		"m/0100_zz.sql": {Data: []byte("Z")},
	}
	ms, err := ReadMigrations(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 13 || ms[0].Version != 1 || ms[0].SQL != "A" || ms[9].Version != 10 || ms[12].Version != 100 || ms[12].Name != "0100_zz.sql" {
		t.Fatalf("%+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no version":      {"m/init.sql": {}},
		"zero version":    {"m/0000_x.sql": {}},
		"no underscore":   {"m/0001.sql": {}},
		"shared version":  {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"empty directory": {"m/": {Mode: 0o755 | 1<<31}},
		"missing":         {"other/0001_a.sql": {}},
	} {
		if _, err := ReadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
