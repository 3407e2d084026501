// Package bytetable checks strings against a table of refused bytes, the loop
// that the token68 check, the compact JWS check and the JSON quoting share.
package bytetable

// None reports whether no byte of s is refused by table, which has, for each
// of the 256 byte values, 0 where the byte is allowed and anything else where
// it is not (a string constant, so that the table cannot change).
//
// The loop takes eight bytes a round into eight accumulators: the loads are
// independent, so a 600-byte token takes about a third of the time of one OR
// chain. None panics if table is shorter than 256 bytes.
func None(s, table string) bool {
	_ = table[255] // with a byte index, no bounds check per load
	var b0, b1, b2, b3, b4, b5, b6, b7 byte
	for len(s) >= 8 {
		b0 |= table[s[0]]
		b1 |= table[s[1]]
		b2 |= table[s[2]]
		b3 |= table[s[3]]
		b4 |= table[s[4]]
		b5 |= table[s[5]]
		b6 |= table[s[6]]
		b7 |= table[s[7]]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		b0 |= table[s[i]]
	}
	return b0|b1|b2|b3|b4|b5|b6|b7 == 0
}
