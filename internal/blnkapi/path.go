package blnkapi

// Canonical reports whether a request path has one reading only, so that the
// gateway judging it and every hop after it (Blnk Core, or any proxy that
// cleans or decodes paths on the way) agree on which resource it names.
//
// path is the decoded path (r.URL.Path); rawPath is the form the request
// will be forwarded in when it differs from the default encoding of path
// (r.URL.RawPath, "" otherwise). Go's reverse proxies send rawPath when it
// decodes to path, else they re-encode path, so these two are all there is
// to look at; r.RequestURI is what the client sent, which an earlier
// rewrite may already have replaced.
//
// The path is canonical when:
//
//   - it starts with "/";
//   - it has no empty segment ("//"), except that it may end in one "/"
//     (Blnk's router redirects "/ledgers/" to "/ledgers"; the segments keep
//     their meaning);
//   - no segment is made of dots only: "." and ".." are dot segments (RFC
//     3986 §5.2.4), which a normalising hop resolves, so "/ledgers/../api-keys"
//     would be judged as ledgers here and reach /api-keys there; "..." is
//     refused too, for servers that trim trailing dots;
//   - every decoded byte is an RFC 3986 pchar other than ";" (ALPHA, DIGIT,
//     "-" "." "_" "~" "!" "$" "&" "'" "(" ")" "*" "+" "," "=" ":" "@") or the
//     "/" separator. Refused, after decoding: "\" (a separator to some
//     servers), ";" (path parameters, which Tomcat-style servers strip, so
//     "..;" is a dot segment there), "%" (double encoding: "%252e" is "%2e"
//     here and "." after a second decoding), "?" and "#" (a hop that forwards
//     the decoded path cuts it there), spaces, control bytes and anything
//     outside ASCII (overlong and fullwidth dots such as "%C0%AE" or U+FF0E,
//     which some decoders and Unicode normalisers turn into ".");
//   - rawPath has no escaped "/", "." or "\" ("%2F", "%2E", "%5C" in either
//     case): decoding them changes the segments ("%2F") or hides a dot
//     segment from a hop that does not decode ("%2E%2E"). Escapes of the
//     other allowed characters ("%3A" for ":") are fine: every reading
//     decodes them alike.
//
// Canonical does not allocate.
func Canonical(path, rawPath string) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	segStart, dotsOnly := 1, true
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			n := i - segStart
			switch {
			case n == 0 && i < len(path):
				return false // an empty segment that is not the trailing one
			case n > 0 && dotsOnly:
				return false // ".", ".." and the like
			}
			segStart, dotsOnly = i+1, true
			continue
		}
		c := path[i]
		if !pchar[c] {
			return false
		}
		if c != '.' {
			dotsOnly = false
		}
	}
	for i := 0; i+2 < len(rawPath); i++ {
		if rawPath[i] != '%' {
			continue
		}
		switch hi, lo := rawPath[i+1], rawPath[i+2]|0x20; {
		case hi == '2' && (lo == 'f' || lo == 'e'), hi == '5' && lo == 'c':
			return false
		}
	}
	return true
}

// pchar marks the bytes a canonical path may contain between its slashes:
// RFC 3986's pchar (unreserved, sub-delims, ":" and "@") without ";".
var pchar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, c := range []byte("-._~!$&'()*+,=:@") {
		t[c] = true
	}
	return t
}()
