import { describe, expect, it } from 'vitest';
import { parseDeviceList, splitCsv } from '../../src/commands/provision-csv.js';

/** The error text of a list that must be refused. */
function refusal(text: string): string {
  try {
    parseDeviceList(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the list was accepted');
}

describe('splitCsv', () => {
  it('reads quotes, doubled quotes, CRLF, a byte-order mark and blank lines, keeping each record’s first line', () => {
    expect(splitCsv('\ufeffa,b\r\n"x, ""y""",z\n\n"multi\nline",w\n')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, "y"', 'z'] },
      { line: 4, fields: ['multi\nline', 'w'] },
    ]);
  });
  it('refuses an unclosed quote, naming its line', () => {
    expect(() => splitCsv('a,b\n"x,y\n')).toThrow(/line 2: a quoted field is not closed/);
  });
});

describe('parseDeviceList', () => {
  it('reads serials, hostnames, sites, labels and static network columns', () => {
    const devices = parseDeviceList(
      'serial,hostname,site,labels,address,gateway,dns\n' +
        '05A350EBD1B50841,Cam-1,store-12,tier=gold;line=4,192.168.10.21/24,192.168.10.1,1.1.1.1;9.9.9.9\n' +
        '7c2a91d04e8b3f16,,store-13,,,,\n' +
        ',cam-3,store-13,,,,1.1.1.1\n',
    );
    expect(devices).toEqual([
      {
        line: 2,
        serial: '05a350ebd1b50841',
        hostname: 'cam-1',
        site: 'store-12',
        labels: { tier: 'gold', line: '4' },
        network: { address: '192.168.10.21/24', gateway: '192.168.10.1', dns: ['1.1.1.1', '9.9.9.9'] },
      },
      { line: 3, serial: '7c2a91d04e8b3f16', hostname: null, site: 'store-13', labels: {}, network: null },
      { line: 4, serial: null, hostname: 'cam-3', site: 'store-13', labels: {}, network: { address: null, gateway: null, dns: ['1.1.1.1'] } },
    ]);
  });

  it.each([
    ['a header without serial or hostname', 'site\nstore-1\n', /line 1: a device list needs a serial or a hostname column/],
    ['a header without site', 'serial\nabc\n', /line 1: a device list needs a site column/],
    ['an unknown column', 'serial,site,colour\nabc,s,red\n', /line 1: unknown column "colour"/],
    ['a row with neither serial nor hostname', 'serial,hostname,site\n,,s\n', /line 2: neither serial nor hostname is given/],
    ['a short row', 'serial,site\nabc\n', /line 2: 1 fields, the header has 2/],
    ['an empty site', 'serial,site\nabc,\n', /line 2: site is empty/],
    ['a bad site', 'serial,site\nabc,store 12\n', /line 2: site "store 12"/],
    ['a bad hostname', 'hostname,site\ncam_1,s\n', /line 2: "cam_1" is not a hostname/],
    ['a bad serial', 'serial,site\nab/c,s\n', /line 2: "ab\/c" is not a board serial/],
    ['a label without value', 'serial,site,labels\nabc,s,tier\n', /line 2: label "tier" has no value/],
    ['a bad label key', 'serial,site,labels\nabc,s,-x=1\n', /line 2: label key "-x"/],
    ['the site as a label', 'serial,site,labels\nabc,s,geolocation.site=t\n', /line 2: set the site in the site column/],
    ['a bad address', 'serial,site,address\nabc,s,10.0.0.5\n', /line 2: address "10.0.0.5" is not an address with prefix length/],
    ['a gateway without address', 'serial,site,gateway\nabc,s,10.0.0.1\n', /line 2: a gateway needs a static address/],
    ['a bad dns', 'serial,site,dns\nabc,s,one.one\n', /line 2: dns "one.one" is not an IP address/],
    ['a duplicate serial (case aside)', 'serial,site\nabc,s\nABC,s\n', /line 3: serial abc is already listed on line 2/],
    ['a duplicate hostname', 'hostname,site\ncam-1,s\ncam-1,t\n', /line 3: hostname cam-1 is already listed on line 2/],
    ['a header only', 'serial,site\n', /lists no devices/],
    ['an empty file', '', /is empty/],
  ])('refuses %s with its line number', (_what, text, expected) => {
    expect(refusal(text)).toMatch(expected);
  });

  it('lists every problem of the file at once, and says nothing was provisioned', () => {
    const message = refusal('serial,site\n,s\nabc,\nabc,s\n');
    expect(message).toMatch(/nothing was provisioned/);
    expect(message).toMatch(/line 2:/);
    expect(message).toMatch(/line 3:/);
  });
});
