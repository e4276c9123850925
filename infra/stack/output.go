package stack

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// console serialises whole lines from many processes onto one writer, each
// prefixed with its source's name.
type console struct {
	mu  sync.Mutex
	out io.Writer
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, "%-10s | "+format+"\n", append([]any{"stack"}, args...)...)
}

// writer returns an io.Writer that prefixes each line with name.
func (c *console) writer(name string) io.Writer {
	return &prefixed{c: c, prefix: fmt.Sprintf("%-10s | ", name)}
}

// filtered is writer, leaving out the lines drop reports.
func (c *console) filtered(name string, drop func(line []byte) bool) io.Writer {
	return &prefixed{c: c, prefix: fmt.Sprintf("%-10s | ", name), drop: drop}
}

type prefixed struct {
	c      *console
	prefix string
	drop   func(line []byte) bool
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if p.drop == nil || !p.drop(p.buf[:i]) {
			p.c.mu.Lock()
			_, _ = io.WriteString(p.c.out, p.prefix)
			_, _ = p.c.out.Write(p.buf[:i+1])
			p.c.mu.Unlock()
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
