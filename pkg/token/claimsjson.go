package token

import (
	"errors"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// appendJSON appends the payload w as json.Marshal(w) encodes it, byte for
// byte, without reflection: the members in the struct's order, an omitempty
// string left out when empty, an omitzero number when zero, an omitempty
// jsontext.Value when it is empty or encodes an empty JSON value (null, "", {}
// or []), and strings quoted by jsontext's rules (the encoder's defaults). It
// fails where Marshal fails on these fields, on a string that is not valid
// UTF-8. The jsontext.Value members are the issuer's own compact encodings
// (the audience, the limits and the cnf claim), copied as they are.
func (w *wireClaims) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	start := len(b)
	var err error
	if b, err = appendStringMember(b, start, `"iss":`, w.Iss); err != nil {
		return nil, err
	}
	if b, err = appendRawMember(b, start, `"aud":`, w.Aud); err != nil {
		return nil, err
	}
	if b, err = appendStringMember(b, start, `"sub":`, w.Sub); err != nil {
		return nil, err
	}
	b = appendIntMember(b, start, `"iat":`, w.Iat)
	b = appendIntMember(b, start, `"nbf":`, w.Nbf)
	b = appendIntMember(b, start, `"exp":`, w.Exp)
	for _, m := range [...]struct{ name, v string }{{`"jti":`, w.Jti}, {`"sid":`, w.Sid}} {
		if b, err = appendStringMember(b, start, m.name, m.v); err != nil {
			return nil, err
		}
	}
	b = appendIntMember(b, start, `"sst":`, w.Sst)
	for _, m := range [...]struct{ name, v string }{{`"akf":`, w.Akf}, {`"ak":`, w.Ak}, {`"aks":`, w.Aks}} {
		if b, err = appendStringMember(b, start, m.name, m.v); err != nil {
			return nil, err
		}
	}
	for _, m := range [...]struct {
		name string
		v    jsontext.Value
	}{{`"lim":`, w.Lim}, {`"cnf":`, w.Cnf}} {
		if b, err = appendRawMember(b, start, m.name, m.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendMemberName appends name (the quoted name and its colon), after a comma
// unless it is the object's first member, which starts at start.
func appendMemberName(b []byte, start int, name string) []byte {
	if len(b) > start {
		b = append(b, ',')
	}
	return append(b, name...)
}

func appendStringMember(b []byte, start int, name, v string) ([]byte, error) {
	if v == "" {
		return b, nil
	}
	return jsontext.AppendQuote(appendMemberName(b, start, name), v)
}

func appendIntMember(b []byte, start int, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(appendMemberName(b, start, name), v, 10)
}

// appendRawMember appends v, valid compact JSON or nil. An empty v that is not
// nil is no JSON value at all: Marshal refuses it, and so does this.
func appendRawMember(b []byte, start int, name string, v jsontext.Value) ([]byte, error) {
	switch string(v) {
	case "":
		if v != nil {
			return nil, errEmptyRawValue
		}
		return b, nil
	case "null", `""`, "{}", "[]":
		return b, nil
	}
	return append(appendMemberName(b, start, name), v...), nil
}

var errEmptyRawValue = errors.New("encoding claims: empty JSON value")
