package store

import "sort"

// span is a half-open byte range [start, end).
type span struct{ start, end int64 }

// rangeSet is the set of bytes present in the temp file. The file is sparse and
// filled out of order by several fetchers, so a single "downloaded up to"
// frontier cannot describe it. Spans are kept sorted, disjoint and coalesced.
type rangeSet struct {
	spans []span
	total int64
}

// add marks [start, end) present and returns how many bytes were new.
func (r *rangeSet) add(start, end int64) int64 {
	if start >= end {
		return 0
	}
	// i: first span whose end >= start (may touch or overlap).
	i := sort.Search(len(r.spans), func(k int) bool { return r.spans[k].end >= start })
	j := i
	ns := span{start, end}
	var covered int64
	for j < len(r.spans) && r.spans[j].start <= end {
		s := r.spans[j]
		covered += min(s.end, end) - max(s.start, start)
		ns.start = min(ns.start, s.start)
		ns.end = max(ns.end, s.end)
		j++
	}
	added := (end - start) - covered
	r.spans = append(r.spans[:i], append([]span{ns}, r.spans[j:]...)...)
	r.total += added
	return added
}

// contains reports whether every byte of [start, end) is present.
func (r *rangeSet) contains(start, end int64) bool {
	if start >= end {
		return true
	}
	i := sort.Search(len(r.spans), func(k int) bool { return r.spans[k].end > start })
	return i < len(r.spans) && r.spans[i].start <= start && r.spans[i].end >= end
}

// nextMissing returns the first byte >= from that is not present, or limit if
// all of [from, limit) is present.
func (r *rangeSet) nextMissing(from, limit int64) int64 {
	i := sort.Search(len(r.spans), func(k int) bool { return r.spans[k].end > from })
	if i < len(r.spans) && r.spans[i].start <= from {
		from = r.spans[i].end
	}
	return min(from, limit)
}

// nextPresent returns the first byte >= from that is present, or limit.
func (r *rangeSet) nextPresent(from, limit int64) int64 {
	i := sort.Search(len(r.spans), func(k int) bool { return r.spans[k].end > from })
	if i == len(r.spans) {
		return limit
	}
	return min(max(r.spans[i].start, from), limit)
}

func (r *rangeSet) reset() {
	r.spans = nil
	r.total = 0
}

// remove marks [start, end) absent and returns how many bytes were present.
func (r *rangeSet) remove(start, end int64) int64 {
	if start >= end {
		return 0
	}
	var out []span
	var gone int64
	for _, s := range r.spans {
		if s.end <= start || s.start >= end {
			out = append(out, s)
			continue
		}
		gone += min(s.end, end) - max(s.start, start)
		if s.start < start {
			out = append(out, span{s.start, start})
		}
		if s.end > end {
			out = append(out, span{end, s.end})
		}
	}
	r.spans = out
	r.total -= gone
	return gone
}
