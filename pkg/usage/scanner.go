package usage

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strings"
)

// Bounds of the scanner's state, which is all the memory it has.
const (
	// maxDepth is the deepest nesting read; a deeper value is malformed.
	maxDepth = 128
	// maxKeyLen is the longest member name kept; longer names match no path.
	maxKeyLen = 32
	// maxPathDepth is the deepest container that can lie on a path.
	maxPathDepth = 4
	// maxSlots is the number of values one path table can read.
	maxSlots = 8
)

// Node flags: what a path's node means besides a number to read.
const (
	// flagChoices marks an array whose emptiness decides whether a chat
	// completion chunk is the usage chunk.
	flagChoices uint8 = 1 << iota
	// flagUsage marks the top-level usage member of a chat completion chunk,
	// whose null value [StripUsageChunk] removes.
	flagUsage
)

// node is one member name on a path of interest; node 0 is the top-level value.
type node struct {
	name   string
	parent int8
	slot   int8 // the slot a number here is read into, or -1
	flags  uint8
	// kids has the bit [nameBit] of each child's name set: a name whose bit
	// is clear is no child, without a look at the table.
	kids uint64
}

// nameBit is a member name's bit in [node.kids]: one of 64, from its length
// and last byte, which tell apart the names the paths hold and the other
// names at the same levels of the answers read.
func nameBit[T string | []byte](name T) uint64 {
	if len(name) == 0 {
		return 1
	}
	return 1 << ((uint(len(name))*5 + uint(name[len(name)-1])) & 63)
}

// pathSpec names one path: member names joined by dots, from the top level.
type pathSpec struct {
	path  string
	slot  int8
	flags uint8
}

// paths is a table of nodes built by [newPaths]; it is never changed after.
type paths []node

// newPaths builds the node table of specs, sharing common prefixes. Paths are
// fixed in this package's source, so a bad one is a programming error that the
// tests catch; it never depends on input.
func newPaths(specs ...pathSpec) paths {
	t := paths{{parent: -1, slot: -1}}
	for _, sp := range specs {
		parent := int8(0)
		names := strings.Split(sp.path, ".")
		for i, name := range names {
			idx := t.child(parent, name)
			if idx < 0 {
				t = append(t, node{name: name, parent: parent, slot: -1})
				idx = int8(len(t) - 1)
				t[parent].kids |= nameBit(name)
			}
			if i == len(names)-1 {
				t[idx].slot = sp.slot
				t[idx].flags |= sp.flags
			}
			parent = idx
		}
	}
	return t
}

// child returns the node named name under parent, or -1.
func (t paths) child(parent int8, name string) int8 {
	for i := range t {
		if t[i].parent == parent && t[i].name == name {
			return int8(i)
		}
	}
	return -1
}

// childBytes is child for a name held in a byte slice; the conversion in the
// comparison does not allocate.
func (t paths) childBytes(parent int8, name []byte) int8 {
	if t[parent].kids&nameBit(name) == 0 {
		return -1
	}
	for i := range t {
		if t[i].parent == parent && t[i].name == string(name) {
			return int8(i)
		}
	}
	return -1
}

// Scanner states.
const (
	stValue     uint8 = iota // a value is expected
	stArrFirst               // after '[': a value or ']'
	stObjFirst               // after '{': a member name or '}'
	stObjNext                // after ',' in an object: a member name
	stKey                    // inside a member name
	stKeyEsc                 // after a backslash in a member name
	stColon                  // after a member name: ':'
	stString                 // inside a string value
	stStringEsc              // after a backslash in a string value
	stNumber                 // inside a number
	stLiteral                // inside true, false or null
	stAfter                  // after a value: ',' or the end of its container
	stDone                   // the top-level value is complete: only white space
	stFail                   // not JSON: the rest is ignored
)

// Notes a scanner raises in notify mode, for [StripUsageChunk]. Each is raised
// at an input position [scanner.noteAt].
const (
	noteNone    uint8 = iota
	noteComma1        // a ',' before the top-level usage member, or before a member not known yet when the input ended; noteAt is the comma
	noteValue1        // the value of a member after a noted comma begins; noteAt is its first byte
	noteEnd1          // the top-level usage member's value ended; noteAt is just past it
	noteChoices       // a choices array's emptiness is known; noteAt is its first non-space byte after '['
)

// Values of scanner.choices.
const (
	choicesUnknown uint8 = iota
	choicesEmpty
	choicesNonEmpty
)

// scanner reads the numbers at a few paths of one JSON value fed to it in
// pieces of any size, without keeping the value: its state is a bit per
// nesting level, the path position of the first few levels and the member
// name being read. It is lenient where leniency cannot mislead it (string
// contents and escapes are not checked), strict about structure and literals.
type scanner struct {
	paths  paths
	notify bool // raise notes (only [StripUsageChunk] needs them)

	state  uint8
	depth  int
	arrays [maxDepth / 64]uint64 // bit d-1 set: the container at depth d is an array
	inArr  bool                  // the container at the current depth is an array
	nodes  [maxPathDepth + 1]int8
	key    [maxKeyLen]byte
	keyLen int
	keyOff bool // the member name is too long or escaped: it matches nothing
	// keyNode is the node of the member name just read, or -1.
	keyNode int8
	cur     int8 // node of the value being read, or -1
	num     int64
	numBad  bool
	lit     string
	litPos  int

	vals [maxSlots]int64
	have uint16 // bit i set: vals[i] was read
	// bad is set when a value on a path was not a non-negative integer.
	bad     bool
	choices uint8
	armed   bool // the array just opened is a choices array
	done    bool
	failed  bool

	note   uint8
	noteAt int
	// commaPending is set from a comma between top-level members, at
	// commaAt of the input being fed, until the next member's name is known
	// or the input ends; comma1 from then until its value begins
	// (noteValue1) when it was noted.
	commaPending bool
	commaAt      int
	comma1       bool
	// usage1 reports that the top-level member being read is the usage member.
	usage1 bool
	// null1 reports that the top-level member value that just ended was null.
	null1 bool
}

// reset prepares s for a new value with the same paths and mode.
func (s *scanner) reset() {
	t, notify := s.paths, s.notify
	*s = scanner{paths: t, notify: notify, cur: 0}
}

// pop leaves the container at the current depth.
func (s *scanner) pop() {
	s.depth--
	if d := s.depth - 1; d >= 0 {
		s.inArr = s.arrays[d/64]&(1<<(d%64)) != 0
	}
}

// parentNode is the node of the container at the current depth, or -1.
func (s *scanner) parentNode() int8 {
	if s.depth > maxPathDepth {
		return -1
	}
	return s.nodes[s.depth]
}

// feed reads p and returns how many bytes it consumed: all of them, unless a
// note was raised (s.note != noteNone), in which case the caller handles the
// note, clears it and feeds the rest.
//
// It is the state machine of the states above written as straight-line code:
// each label is a state, entered from the stored state at the start and left
// for the next state's label as soon as a token ends, so that the common
// sequences (a member name, its colon, its value, a comma) take no pass
// through a dispatch on the state; the state is stored only where feed
// returns, at the end of p or at a note. Strings, member names included, are
// skipped with [stringEnd].
func (s *scanner) feed(p []byte) int {
	var (
		i     int
		b     byte
		j     int
		first bool // an object's first member name or its end is expected
	)
	switch s.state {
	case stValue:
		goto value
	case stArrFirst:
		goto arrFirst
	case stObjFirst:
		goto objFirst
	case stObjNext:
		goto objNext
	case stKey:
		goto key
	case stKeyEsc:
		goto keyEsc
	case stColon:
		goto colon
	case stString:
		goto str
	case stStringEsc:
		goto strEsc
	case stNumber:
		goto number
	case stLiteral:
		goto literal
	case stAfter:
		goto after
	case stDone:
		goto done
	}
	return len(p) // stFail: the rest is ignored

value: // a value is expected
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		s.state = stValue
		return i
	}
	if s.comma1 {
		// A top-level member after a comma begins: the comma was held
		// until its name was known.
		s.comma1 = false
		s.state = stValue
		return s.raise(noteValue1, i, i)
	}

begin: // the value whose first byte is p[i] begins
	b = p[i]
	i++
	s.null1 = false
	switch {
	case b == '"':
		if s.cur > 0 && s.paths[s.cur].slot >= 0 {
			s.bad = true // usage that is not a number
		}
		goto str
	case b == '-' || '0' <= b && b <= '9':
		s.num, s.numBad = 0, b == '-'
		if b != '-' {
			s.num = int64(b - '0')
		}
		goto number
	case b == '{' || b == '[':
		if s.cur > 0 && s.paths[s.cur].slot >= 0 {
			s.bad = true
		}
		if s.depth == maxDepth {
			goto fail
		}
		if d := s.depth; b == '[' {
			s.arrays[d/64] |= 1 << (d % 64)
		} else {
			s.arrays[d/64] &^= 1 << (d % 64)
		}
		s.depth++
		s.inArr = b == '['
		if s.depth <= maxPathDepth {
			n := int8(-1)
			if b == '{' && s.cur >= 0 {
				n = s.cur
			}
			s.nodes[s.depth] = n
		}
		if b == '[' {
			s.armed = s.cur > 0 && s.paths[s.cur].flags&flagChoices != 0
			goto arrFirst
		}
		goto objFirst
	case b == 't':
		s.lit, s.litPos = "true", 1
		goto literal
	case b == 'f':
		s.lit, s.litPos = "false", 1
		goto literal
	case b == 'n':
		s.lit, s.litPos = "null", 1
		goto literal
	}
	goto fail

arrFirst: // after '[': a value or ']'
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		s.state = stArrFirst
		return i
	}
	b = p[i]
	if s.armed {
		s.armed = false
		s.choices = choicesNonEmpty
		if b == ']' {
			s.choices = choicesEmpty
		}
		if s.notify {
			s.state = stArrFirst
			return s.raise(noteChoices, i, i)
		}
	}
	if b == ']' {
		i++
		s.pop()
		goto end
	}
	s.cur = -1
	goto begin

objFirst: // after '{': a member name or '}'
	first = true
	goto member
objNext: // after ',' in an object: a member name
	first = false
member:
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		s.state = stObjNext
		if first {
			s.state = stObjFirst
		}
		goto pending
	}
	if b = p[i]; b == '"' {
		i++
		// A name in a container off the paths matches nothing: it is
		// skipped like a string.
		s.keyLen, s.keyOff = 0, s.parentNode() < 0
		goto key
	}
	if b == '}' && first {
		i++
		s.pop()
		goto end
	}
	goto fail

key: // inside a member name
	j = stringEnd(p[i:])
	if i+j == len(p) { // the name goes on in the next piece
		if !s.keyOff {
			if s.keyLen+j > maxKeyLen {
				s.keyOff = true
			} else {
				s.keyLen += copy(s.key[s.keyLen:], p[i:])
			}
		}
		s.state = stKey
		i = len(p)
		goto pending
	}
	if p[i+j] == '\\' {
		s.keyOff = true // an escaped name is never one of ours
		i += j + 1
		goto keyEsc
	}
	s.keyNode = -1
	if !s.keyOff {
		if s.keyLen == 0 { // the whole name is in p: no copy
			s.keyNode = s.paths.childBytes(s.parentNode(), p[i:i+j])
		} else if s.keyLen+j <= maxKeyLen {
			s.keyLen += copy(s.key[s.keyLen:], p[i:i+j])
			s.keyNode = s.paths.childBytes(s.parentNode(), s.key[:s.keyLen])
		}
	}
	i += j + 1
	goto colon

keyEsc: // after a backslash in a member name
	if i == len(p) {
		s.state = stKeyEsc
		goto pending
	}
	i++
	goto key

colon: // after a member name: ':'
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		s.state = stColon
		goto pending
	}
	if p[i] != ':' {
		goto fail
	}
	i++
	s.cur = s.keyNode
	if s.depth == 1 {
		s.usage1 = s.cur > 0 && s.paths[s.cur].flags&flagUsage != 0
		if s.commaPending {
			// The member after the comma is known: only the usage
			// member's comma is held (and its value's start noted).
			s.commaPending = false
			if s.usage1 {
				s.comma1 = true
				s.state = stValue
				return s.raise(noteComma1, s.commaAt, i)
			}
		}
	}
	goto value

pending: // p ends between a top-level comma and its member's colon
	if s.commaPending {
		// Which member follows is not known yet: the comma is held.
		s.commaPending = false
		s.comma1 = true
		return s.raise(noteComma1, s.commaAt, i)
	}
	return i

str: // inside a string value
	i += stringEnd(p[i:])
	if i == len(p) {
		s.state = stString
		return i
	}
	if p[i] == '\\' {
		i++
		goto strEsc
	}
	i++
	goto end

strEsc: // after a backslash in a string value
	if i == len(p) {
		s.state = stStringEsc
		return i
	}
	i++
	goto str

number: // inside a number
	for ; i < len(p); i++ {
		b = p[i]
		if '0' <= b && b <= '9' {
			if s.num > (math.MaxInt64-9)/10 {
				s.numBad = true
			} else {
				s.num = s.num*10 + int64(b-'0')
			}
			continue
		}
		if b != '.' && b != 'e' && b != 'E' && b != '+' && b != '-' {
			s.store()
			goto end
		}
		s.numBad = true
	}
	s.state = stNumber
	return i

literal: // inside true, false or null
	for ; i < len(p); i++ {
		b = p[i]
		if b < 'a' || 'z' < b {
			if s.litPos != len(s.lit) {
				goto fail
			}
			if s.cur > 0 && s.paths[s.cur].slot >= 0 && s.lit != "null" {
				s.bad = true // usage that is neither a number nor null
			}
			s.null1 = s.lit == "null"
			goto end
		}
		if s.litPos >= len(s.lit) || s.lit[s.litPos] != b {
			goto fail
		}
		s.litPos++
	}
	s.state = stLiteral
	return i

end: // a value ended just before position i
	if s.depth == 0 {
		s.done = true
		goto done
	}
	if s.usage1 && s.notify && s.depth == 1 && !s.inArr {
		// Only the usage member's end decides anything: whether it was
		// null, and so removed.
		s.state = stAfter
		return s.raise(noteEnd1, i, i)
	}

after: // after a value: ',' or the end of its container
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		s.state = stAfter
		return i
	}
	b = p[i]
	i++
	switch b {
	case ',':
		if s.inArr {
			s.cur = -1
			goto value
		}
		if s.notify && s.depth == 1 {
			// Noted once the member's name is known (colon), or p ends.
			s.commaPending, s.commaAt = true, i-1
		}
		goto objNext
	case '}', ']':
		if s.inArr != (b == ']') {
			goto fail
		}
		s.pop()
		goto end
	}
	goto fail

done: // the top-level value is complete: only white space
	for ; i < len(p); i++ {
		if !isSpace(p[i]) {
			goto fail
		}
	}
	s.state = stDone
	return i

fail: // not JSON: the rest is ignored
	s.state = stFail
	s.failed = true
	return len(p)
}

// raise records a note at position at and returns n, the bytes consumed.
func (s *scanner) raise(note uint8, at, n int) int {
	s.note, s.noteAt = note, at
	return n
}

// store keeps the number just read if it lies on a path.
func (s *scanner) store() {
	if s.cur <= 0 {
		return
	}
	slot := s.paths[s.cur].slot
	if slot < 0 {
		return
	}
	if s.numBad {
		s.bad = true
		return
	}
	s.vals[slot] = s.num
	s.have |= 1 << slot
}

// value reports the number read into slot, if any.
func (s *scanner) value(slot int) (int64, bool) {
	return s.vals[slot], s.have&(1<<slot) != 0
}

// stringEnd returns the index of the first '"' or '\\' in p, or len(p). Most
// strings in an answer are short (names, ids, a word of text), so it looks at
// the first 32 bytes eight at a time before calling the vectorised search.
func stringEnd(p []byte) int {
	if len(p) >= 8 {
		if m := stringEnds(binary.LittleEndian.Uint64(p)); m != 0 {
			return bits.TrailingZeros64(m) / 8
		}
	}
	return stringEndAfter(p)
}

// Words of eight equal bytes, for [stringEnds].
const (
	ones       = 0x0101010101010101
	highs      = 0x8080808080808080
	quotes     = '"' * ones
	backslashs = '\\' * ones
)

// stringEnds returns x, eight bytes of p read as a little-endian word, with
// the high bit of its lowest '"' or '\\' byte set, and the bits of bytes
// below it clear; zero when it has none. (A zero byte of x^quotes or
// x^backslashs sets the high bit of its byte; bytes above the lowest may be
// set too.)
func stringEnds(x uint64) uint64 {
	q, b := x^quotes, x^backslashs
	return ((q-ones)&^q | (b-ones)&^b) & highs
}

// stringEndAfter is stringEnd for p past its first eight bytes, when those
// hold no end, or for a p shorter than eight bytes.
func stringEndAfter(p []byte) int {
	j := 0
	if len(p) >= 8 {
		j = 8
	}
	for ; j+8 <= len(p) && j < 32; j += 8 {
		if m := stringEnds(binary.LittleEndian.Uint64(p[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	if j < 32 || j == len(p) {
		for ; j < len(p); j++ {
			if c := p[j]; c == '"' || c == '\\' {
				return j
			}
		}
		return j
	}
	return j + stringEndLong(p[j:])
}

func stringEndLong(p []byte) int {
	j := bytes.IndexByte(p, '"')
	if j < 0 {
		j = len(p)
	}
	if k := bytes.IndexByte(p[:j], '\\'); k >= 0 {
		return k
	}
	return j
}

// isSpace reports whether b is JSON white space; most bytes are above ' '.
func isSpace(b byte) bool { return b <= ' ' && (b == ' ' || b == '\t' || b == '\n' || b == '\r') }
