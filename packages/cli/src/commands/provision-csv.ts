import { isIP } from 'node:net';
import { BoardSerialSchema, errors, HostnameSchema, type Labels, labelKeyProblem, labelValueProblem } from '@edgefleet/protocol';

/**
 * The device list `edgefleet provision --devices` reads: a CSV with a header row. Columns:
 * `serial` and/or `hostname` (at least one of the two columns, and a value in at least one
 * of them on every row), `site` (required), optional `labels` (`k=v;k=v`) and the static
 * network columns `address` (CIDR, e.g. 192.168.10.21/24), `gateway` and `dns`
 * (addresses separated by `;` or spaces). Parsing is all or nothing: every problem is
 * collected with its line number, and nothing is provisioned unless the whole file is valid.
 */

/** The columns a device list may have. */
export const DEVICE_COLUMNS = ['serial', 'hostname', 'site', 'labels', 'address', 'gateway', 'dns'] as const;
type Column = (typeof DEVICE_COLUMNS)[number];

/** One device of the list. */
export interface DeviceRow {
  /** Line of the file the row starts on (1: the header). */
  line: number;
  /** Board serial, lowercase; null when the row names only a hostname. */
  serial: string | null;
  /** Hostname as listed (lowercase); null when the row names only a serial. */
  hostname: string | null;
  site: string;
  labels: Labels;
  /** Network settings from the list; null: DHCP with the DHCP server's DNS. */
  network: StaticNetwork | null;
}

/** The list's network columns: a static address (null: DHCP), its gateway, DNS servers. */
export interface StaticNetwork {
  /** Address with prefix length, `192.168.10.21/24`; null: DHCP (with the listed DNS servers). */
  address: string | null;
  gateway: string | null;
  dns: string[];
}

/** Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes, CRLF), each with its first line. */
export function splitCsv(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a spreadsheet's byte-order mark
  const endRecord = () => {
    fields.push(field);
    // A blank line is no record.
    if (!(fields.length === 1 && fields[0]?.trim() === '')) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field.trim() === '') {
      field = '';
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += c;
  }
  if (quoted) throw errors.config(`line ${recordLine}: a quoted field is not closed`, 'close the quote (write "" for a quote inside a quoted field)');
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

/** Parses `k=v;k=v` into labels, checking each key and value. */
function parseLabels(text: string, problems: string[], at: string): Labels {
  const labels: Labels = {};
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (eq < 0) problems.push(`${at}: label "${part.trim()}" has no value (write key=value)`);
    else if (labelKeyProblem(key) !== undefined) problems.push(`${at}: label key "${key}": ${labelKeyProblem(key)}`);
    else if (labelValueProblem(value) !== undefined) problems.push(`${at}: label ${key}: ${labelValueProblem(value)}`);
    else if (key === 'geolocation.site') problems.push(`${at}: set the site in the site column, not as a label`);
    else if (Object.hasOwn(labels, key)) problems.push(`${at}: label ${key} is given twice`);
    else labels[key] = value;
  }
  return labels;
}

/** Checks an address with prefix length (`10.0.0.5/24`, `fd00::5/64`). */
function validCidr(text: string): boolean {
  const [ip, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || ip === undefined || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false;
  const family = isIP(ip);
  return family !== 0 && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Parses a device list. Throws one `config` error listing every problem with its line
 * number (at most 20 shown), so a 300-line file is fixed in one pass.
 */
export function parseDeviceList(text: string, file = 'devices.csv'): DeviceRow[] {
  const records = splitCsv(text);
  const header = records[0];
  if (header === undefined) throw errors.config(`${file} is empty`, `write a header row: ${DEVICE_COLUMNS.join(',')}`);
  const columns = header.fields.map((f) => f.trim().toLowerCase());
  const problems: string[] = [];
  for (const [i, c] of columns.entries()) {
    if (!(DEVICE_COLUMNS as readonly string[]).includes(c)) problems.push(`line 1: unknown column "${header.fields[i]}" (known: ${DEVICE_COLUMNS.join(', ')})`);
    else if (columns.indexOf(c) !== i) problems.push(`line 1: column ${c} is given twice`);
  }
  if (!columns.includes('serial') && !columns.includes('hostname')) problems.push('line 1: a device list needs a serial or a hostname column (or both)');
  if (!columns.includes('site')) problems.push('line 1: a device list needs a site column');
  if (problems.length > 0) throw listError(file, problems);

  const devices: DeviceRow[] = [];
  const seen = new Map<string, number>();
  for (const record of records.slice(1)) {
    const at = `line ${record.line}`;
    if (record.fields.length !== columns.length) {
      problems.push(`${at}: ${record.fields.length} fields, the header has ${columns.length}`);
      continue;
    }
    const cell = (c: Column): string => {
      const i = columns.indexOf(c);
      return i < 0 ? '' : (record.fields[i] ?? '').trim();
    };
    const before = problems.length;
    const serial = cell('serial').toLowerCase();
    const hostname = cell('hostname').toLowerCase();
    const site = cell('site');
    if (serial === '' && hostname === '') problems.push(`${at}: neither serial nor hostname is given`);
    if (serial !== '' && !BoardSerialSchema.safeParse(serial).success) problems.push(`${at}: "${serial}" is not a board serial (letters, digits, . : _ -)`);
    if (hostname !== '' && (!HostnameSchema.safeParse(hostname).success || hostname.length > 63 || hostname.includes('.'))) {
      problems.push(`${at}: "${hostname}" is not a hostname (one label: letters, digits and hyphens, at most 63)`);
    }
    if (site === '') problems.push(`${at}: site is empty`);
    else if (labelValueProblem(site) !== undefined) problems.push(`${at}: site "${site}": ${labelValueProblem(site)}`);
    const labels = parseLabels(cell('labels'), problems, at);
    const address = cell('address');
    const gateway = cell('gateway');
    const dns = cell('dns')
      .split(/[;\s]+/)
      .filter((d) => d !== '');
    if (address !== '' && !validCidr(address)) problems.push(`${at}: address "${address}" is not an address with prefix length (192.168.10.21/24)`);
    if (gateway !== '' && isIP(gateway) === 0) problems.push(`${at}: gateway "${gateway}" is not an IP address`);
    if (gateway !== '' && address === '') problems.push(`${at}: a gateway needs a static address (or leave both empty for DHCP)`);
    for (const d of dns) if (isIP(d) === 0) problems.push(`${at}: dns "${d}" is not an IP address`);
    for (const [kind, value] of [
      ['serial', serial],
      ['hostname', hostname],
    ] as const) {
      if (value === '') continue;
      const first = seen.get(`${kind} ${value}`);
      if (first !== undefined) problems.push(`${at}: ${kind} ${value} is already listed on line ${first}`);
      else seen.set(`${kind} ${value}`, record.line);
    }
    if (problems.length > before) continue;
    devices.push({
      line: record.line,
      serial: serial === '' ? null : serial,
      hostname: hostname === '' ? null : hostname,
      site,
      labels,
      network: address === '' && dns.length === 0 ? null : { address: address === '' ? null : address, gateway: gateway === '' ? null : gateway, dns },
    });
  }
  if (problems.length > 0) throw listError(file, problems);
  if (devices.length === 0) throw errors.config(`${file} lists no devices`, 'add one row per device under the header');
  return devices;
}

function listError(file: string, problems: string[]): Error {
  const shown = problems.slice(0, 20).map((p) => `  ${file} ${p}`);
  if (problems.length > 20) shown.push(`  … and ${problems.length - 20} more`);
  return errors.config(
    `${file} is not a valid device list (nothing was provisioned):\n${shown.join('\n')}`,
    `fix the lines named; columns: ${DEVICE_COLUMNS.join(',')}`,
  );
}
