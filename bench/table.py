"""table.py -- the text tables of a bench run: numbers at a sensible precision, each with its ratio against the baseline column."""


def fmt_num(v, unit):
	"""v in unit, as the tables show it; "-" for None."""
	if v is None:
		return "-"
	if unit == "conn/tunnel":
		return "%.2f" % v
	if unit in ("ms", "KiB/tunnel", "us/req", "ms/MB", "us/tunnel"):
		return "%.3g" % v if v < 10 else "%.1f" % v if v < 1000 else "{:,.0f}".format(v)
	return "{:,.0f}".format(v) if v >= 100 else "%.1f" % v


def render_table(rows, targets, cpu_rows, footer, base="direct", headers=None):
	"""rows: (title, unit, higher_is_better, {target: value}, {target: failed-note}, key);
	cpu_rows: (title, unit, {target: value}).  Each value is followed by its ratio against
	base's value in the same row, and by ! when some operation failed."""
	colw = 22
	headers = headers or {}
	head = "%-44s %-10s" % ("workload", "unit") + "".join("%*s" % (colw, headers.get(t, t))
								 for t in targets)
	out = [head, "-" * len(head)]
	for title, unit, higher, vals, notes, key in rows:
		ref = vals.get(base)
		cells = []
		for t in targets:
			v = vals.get(t)
			if t not in vals:
				cells.append("%*s" % (colw, "n/a"))
				continue
			s = fmt_num(v, unit)
			if t != base and v is not None and ref:
				s += " %.2fx" % (v / ref)
			if t in notes:
				s += " !"
			cells.append("%*s" % (colw, s))
		out.append("%-44s %-10s" % (title[:44], unit) + "".join(cells))
	out.append("-" * len(head))
	for title, unit, vals in cpu_rows:
		out.append("%-44s %-10s" % (title[:44], unit) +
			   "".join("%*s" % (colw, fmt_num(vals.get(t), unit) if t in vals else "-")
				   for t in targets))
	out += footer
	return "\n".join(out)
