/**
 * `keyward rotate`, the old name of `keyward sys rotate`: kept, hidden from `keyward --help` (no
 * usage), so that scripts keep working; it says on stderr that the name is deprecated, which keeps
 * stdout (and --json) the same as `sys rotate`'s.
 * @module
 */
import SysRotateCommand from './sys/rotate.js';

export default class RotateCommand extends SysRotateCommand {
  static override paths = [['rotate']];
  static override usage = undefined;

  override async run(): Promise<number> {
    this.context.stderr.write('warning: `keyward rotate` is deprecated; use `keyward sys rotate`\n');
    return super.run();
  }
}
