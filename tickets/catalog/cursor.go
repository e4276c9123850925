package catalog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// A cursor is keyset paging's bookmark: a position in a sort (price and
// id of the item at the page's edge) and which way the page goes from it.
// It names no page number and no snapshot, so it stays valid while
// tickets come and change: a page reads whatever now lies past the
// position. It carries no filters; the query brings them again.
//
// Encoded: a byte of version, flags and sort, the price in cents (8 bytes)
// and the id (12 bytes), in unpadded base64url: 28 characters, never
// mistaken for wave 2's 24-hex-digit ticket id.
type cursor struct {
	sort Sort
	prev bool // the page lies before at, not after it
	incl bool // the item at at belongs to the page
	at   pos
}

const (
	cursorVersion = 1
	cursorBytes   = 21
	flagPrev      = 1 << 2
	flagIncl      = 1 << 3
)

var errCursor = errors.New("catalog: not a cursor")

func (c cursor) String() string {
	var b [cursorBytes]byte
	b[0] = cursorVersion<<4 | byte(c.sort)
	if c.prev {
		b[0] |= flagPrev
	}
	if c.incl {
		b[0] |= flagIncl
	}
	binary.BigEndian.PutUint64(b[1:9], uint64(c.at.cents))
	id := c.at.id.objectID()
	copy(b[9:], id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (cursor, error) {
	var b [cursorBytes]byte
	if base64.RawURLEncoding.EncodedLen(cursorBytes) != len(s) {
		return cursor{}, errCursor
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s)); err != nil || n != cursorBytes {
		return cursor{}, errCursor
	}
	if b[0]>>4 != cursorVersion || Sort(b[0]&3) >= numSorts {
		return cursor{}, errCursor
	}
	c := cursor{
		sort: Sort(b[0] & 3),
		prev: b[0]&flagPrev != 0,
		incl: b[0]&flagIncl != 0,
		at:   pos{cents: int64(binary.BigEndian.Uint64(b[1:9])), id: oid{binary.BigEndian.Uint64(b[9:17]), binary.BigEndian.Uint32(b[17:])}},
	}
	return c, nil
}
