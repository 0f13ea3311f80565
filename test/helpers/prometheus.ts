/**
 * A strict reader of the Prometheus text exposition format 0.0.4, written from the format's
 * specification (prometheus.io, "Exposition formats", text format details), not from prom-client,
 * which writes what it reads: HELP and TYPE lines (at most one each per family, TYPE before the
 * family's first sample), each family's lines together, samples `name{label="value",...} value
 * [timestamp]` with the three label-value escapes (\\, \", \n), values as Go floats (NaN, ±Inf),
 * and a histogram's `_bucket` (with `le`), `_sum` and `_count` series. Throws on anything else.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A Go float (strconv.ParseFloat, which Prometheus uses: NaN and Inf in any case; we write "NaN"). */
function parseValue(s: string, where: string): number {
  const special = s.toLowerCase();
  if (special === 'nan') return NaN;
  if (special === '+inf' || special === 'inf' || special === '+infinity' || special === 'infinity') return Infinity;
  if (special === '-inf' || special === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new Error(`${where}: "${s}" is not a float`);
  return Number(s);
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, types: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base)?.type;
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return name;
}

function parseSample(line: string, where: string): Sample {
  let i = 0;
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) throw new Error(`${where}: no metric name`);
  const name = line.slice(0, nameEnd);
  if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
  i = nameEnd;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`${where}: a label without "="`);
      const label = line.slice(i, eq);
      if (!LABEL.test(label)) throw new Error(`${where}: bad label name "${label}"`);
      if (label in labels) throw new Error(`${where}: label "${label}" twice`);
      if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
      let j = eq + 2;
      let value = '';
      for (;;) {
        const c = line[j];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[j + 1];
          if (e === '\\') value += '\\';
          else if (e === '"') value += '"';
          else if (e === 'n') value += '\n';
          else throw new Error(`${where}: bad escape "\\${e}" in a label value`);
          j += 2;
        } else {
          value += c;
          j++;
        }
      }
      labels[label] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${where}: expected "," or "}" after a label`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
  const rest = line
    .slice(i)
    .trim()
    .split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2) throw new Error(`${where}: expected a value and an optional timestamp`);
  const value = parseValue(rest[0]!, where);
  if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) throw new Error(`${where}: bad timestamp "${rest[1]}"`);
  return { name, labels, value };
}

/** The families of an exposition, by name; throws naming the line that breaks the format. */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: string | undefined;
  const open = (name: string, where: string): Family => {
    if (current !== name) {
      if (families.has(name) && closed.has(name)) throw new Error(`${where}: family ${name}'s lines are not together`);
      if (current !== undefined) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, n) => {
      const where = `line ${n + 1}`;
      if (/^\s*$/.test(line)) return;
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m) {
        const [, kind, name, rest = ''] = m;
        if (!NAME.test(name!)) throw new Error(`${where}: bad metric name "${name}"`);
        const f = open(name!, where);
        if (kind === 'HELP') {
          if (f.help) throw new Error(`${where}: a second HELP for ${name}`);
          f.help = rest.replace(/\\(\\|n)/g, (_, e: string) => (e === 'n' ? '\n' : '\\'));
        } else {
          if (f.samples.length) throw new Error(`${where}: TYPE after ${name}'s samples`);
          if (!TYPES.has(rest.trim())) throw new Error(`${where}: unknown type "${rest}"`);
          if (f.type !== 'untyped') throw new Error(`${where}: a second TYPE for ${name}`);
          f.type = rest.trim() as Family['type'];
        }
        return;
      }
      if (line.startsWith('#')) return; // a comment
      const s = parseSample(line, where);
      open(familyOf(s.name, families), where).samples.push(s);
    });
  for (const f of families.values()) checkFamily(f);
  return families;
}

/** A histogram's series (by labels other than `le`): buckets ascending in `le`, counts non-decreasing, +Inf = count. */
function checkFamily(f: Family): void {
  if (f.type === 'counter')
    for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`${f.name}: counter value ${s.value}`);
  if (f.type !== 'histogram') return;
  for (const series of histogramSeries(f)) {
    const key = JSON.stringify(series.labels);
    let prevLe = -Infinity;
    let prev = 0;
    for (const [le, count] of series.buckets) {
      if (!(le > prevLe)) throw new Error(`${f.name}${key}: bucket le=${le} after le=${prevLe}`);
      if (count < prev) throw new Error(`${f.name}${key}: bucket le=${le} has ${count} < ${prev}`);
      prevLe = le;
      prev = count;
    }
    if (prevLe !== Infinity) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
    if (prev !== series.count) throw new Error(`${f.name}${key}: +Inf bucket ${prev} ≠ count ${series.count}`);
    if (Number.isNaN(series.sum)) throw new Error(`${f.name}${key}: no _sum`);
  }
}

export interface HistogramSeries {
  labels: Record<string, string>;
  /** [le, cumulative count], in exposition order. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

/** A histogram family's series, grouped by their labels (le aside). */
export function histogramSeries(f: Family): HistogramSeries[] {
  const by = new Map<string, HistogramSeries>();
  for (const s of f.samples) {
    const { le, ...labels } = s.labels;
    const key = JSON.stringify(Object.entries(labels).sort());
    let series = by.get(key);
    if (!series) {
      series = { labels, buckets: [], sum: NaN, count: NaN };
      by.set(key, series);
    }
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      series.buckets.push([parseValue(le, `${f.name} le`), s.value]);
    } else if (s.name === `${f.name}_sum`) series.sum = s.value;
    else if (s.name === `${f.name}_count`) series.count = s.value;
    else throw new Error(`${f.name}: unexpected series ${s.name}`);
  }
  return [...by.values()];
}

/** The value of the one sample of `family` (named `name`, default the family) whose labels include `labels`. */
export function valueOf(
  families: Map<string, Family>,
  family: string,
  labels: Record<string, string> = {},
  name = family,
): number | undefined {
  const f = families.get(family);
  const hits = (f?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length > 1) throw new Error(`${name}${JSON.stringify(labels)}: ${hits.length} samples match`);
  return hits[0]?.value;
}
