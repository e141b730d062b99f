package clientcache

import "unsafe"

// eface is the layout of an interface value with no methods (any): a
// pointer to the dynamic type and one to the value. For a string, the
// value is a string header (pointer, length) in memory of its own.
type eface struct {
	typ, data unsafe.Pointer
}

// stringType is the type word of an any holding a string.
var stringType = func() unsafe.Pointer {
	var s any = ""
	return (*eface)(unsafe.Pointer(&s)).typ
}()

// boxString returns the any that any(*p) makes, but pointing at *p rather
// than at a copy of the header on the heap: converting a string to an
// interface allocates 16 bytes for the header, which at a million cached
// clients (an ID and a name each) is 32 MB. The caller guarantees *p is
// never written again: the interface shares it, as any boxed value is
// shared, and holding the interface keeps p's object alive.
func boxString(p *string) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = stringType, unsafe.Pointer(p)
	return v
}
