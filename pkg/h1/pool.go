package h1

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"
)

// getConn returns an idle connection to key that is still open, or dials one.
// A dial the context ends returns the context's cause, as net/http's
// Transport does.
func (t *Transport) getConn(ctx context.Context, key string) (*conn, error) {
	for {
		c := t.popIdle(key)
		if c == nil {
			break
		}
		if c.alive() {
			return c, nil // reused: putIdle marked it
		}
		c.close()
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("h1: dialing: %w", err)
	}
	return newConn(t, key, nc), nil
}

// popIdle takes the most recently used idle connection to key, nil if none is
// left. One whose idle timer already fired is closed, not returned.
func (t *Transport) popIdle(key string) *conn {
	var expired []*conn
	defer func() {
		for _, c := range expired {
			c.close()
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[key]
	for len(list) > 0 {
		c := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		t.idle[key] = list
		c.idle = false
		if c.idleTimer.Stop() {
			return c
		}
		expired = append(expired, c)
	}
	return nil
}

// putIdle returns c to the pool, or closes it when the pool is full.
func (t *Transport) putIdle(c *conn) {
	c.reused = true
	t.mu.Lock()
	list := t.idle[c.key]
	if len(list) >= t.maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.key] = append(list, c)
	c.idle = true
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(t.idleTimeout, func() { t.expire(c) })
	} else {
		c.idleTimer.Reset(t.idleTimeout)
	}
	t.mu.Unlock()
}

// expire closes c when it is still idle once its idle time is up.
func (t *Transport) expire(c *conn) {
	t.mu.Lock()
	if !c.idle {
		t.mu.Unlock()
		return
	}
	c.idle = false
	list := t.idle[c.key]
	for i, ic := range list {
		if ic == c {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			t.idle[c.key] = list[:len(list)-1]
			break
		}
	}
	t.mu.Unlock()
	c.close()
}

// hostPort is the dial address of u's host: with the port, 80 by default. A
// host with its port is that address already (brackets and all), so the
// common case builds no string per request.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
