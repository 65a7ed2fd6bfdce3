import { describe, expect, it } from 'vitest';
import { decodeRevisionCode, slugFromModel } from '../../src/probe/index.js';

const GIB = 1024 ** 3;

describe('decodeRevisionCode', () => {
  it.each([
    ['d04170', 0x17, 'raspberrypi5', 8 * GIB],
    ['a04171', 0x17, 'raspberrypi5', 1 * GIB],
    ['e04171', 0x17, 'raspberrypi5', 16 * GIB],
    ['c03115', 0x11, 'raspberrypi4', 4 * GIB],
    ['d04180', 0x18, 'cm5', 8 * GIB],
    ['c041a0', 0x1a, 'cm5', 4 * GIB],
    ['b03140', 0x14, 'cm4', 2 * GIB],
    ['a020d3', 0x0d, 'raspberrypi3', 1 * GIB],
    ['9020e0', 0x0e, 'raspberrypi3', GIB / 2],
    ['c03130', 0x13, 'raspberrypi400', 4 * GIB],
    ['e04190', 0x19, 'raspberrypi500', 16 * GIB],
    ['d041b0', 0x1b, null, 8 * GIB],
    ['f04170', 0x17, 'raspberrypi5', null],
    // The warranty bit (25) does not change the board.
    ['2d04170', 0x17, 'raspberrypi5', 8 * GIB],
  ])('%s → type %i, %s', (code, type, slug, memoryBytes) => {
    expect(decodeRevisionCode(code)).toEqual({ type, slug, memoryBytes });
  });

  it.each(['0013', '0002', '1000002', '', 'xyz', '123456789'])('%j is not a new-style code', (code) => {
    expect(decodeRevisionCode(code)).toBeNull();
  });
});

describe('slugFromModel', () => {
  it.each([
    ['Raspberry Pi 5 Model B Rev 1.0', 'raspberrypi5'],
    ['Raspberry Pi 500 Rev 1.0', 'raspberrypi500'],
    ['Raspberry Pi 4 Model B Rev 1.5', 'raspberrypi4'],
    ['Raspberry Pi 400 Rev 1.0', 'raspberrypi400'],
    ['Raspberry Pi Compute Module 5 Rev 1.0', 'cm5'],
    ['Raspberry Pi Compute Module 4 Rev 1.0', 'cm4'],
    ['Raspberry Pi 3 Model B Plus Rev 1.3', 'raspberrypi3'],
    ['Raspberry Pi Zero 2 W Rev 1.0', 'raspberrypizero2'],
    ['Raspberry Pi Model B Rev 2', null],
    ['NUC11ATKC4', null],
  ])('%s → %s', (model, slug) => {
    expect(slugFromModel(model)).toBe(slug);
  });
});
