/** `npm run hq -- users …`: HQ's users from the command line (the first admin, a locked-out admin). */
import type { Database } from '../db/database.js';
import { HqError } from '../errors.js';
import { addUser, changeUser, listUsers, parseRole } from '../auth/users.js';

export const USERS_USAGE = `  npm run hq -- users add <name> --role <analyst|operations|admin>
                                       a new user; prints their password, once
  npm run hq -- users list             every user, role and state
  npm run hq -- users reset <name>     a new password (printed once); ends their sessions
  npm run hq -- users disable <name>   they can no longer sign in; ends their sessions
  npm run hq -- users enable <name>    they can sign in again`;

/** Runs one `users` command; what it prints goes to `out`. Throws HqError for what the user must fix. */
export async function runUsersCommand(db: Database, args: string[], out: (line: string) => void): Promise<void> {
  const [command, ...rest] = args;
  const name = (): string => {
    const value = rest.find((arg) => !arg.startsWith('--'));
    if (!value) throw new HqError('usage', `users ${command ?? ''}: which user?\n${USERS_USAGE}`);
    return value;
  };
  switch (command) {
    case 'add': {
      const roleAt = rest.indexOf('--role');
      const role = roleAt >= 0 ? rest[roleAt + 1] : undefined;
      if (!role) throw new HqError('usage', `users add: --role analyst, operations or admin\n${USERS_USAGE}`);
      const username = rest.find((arg, i) => !arg.startsWith('--') && i !== roleAt + 1);
      if (!username) throw new HqError('usage', `users add: which user?\n${USERS_USAGE}`);
      const { user, password } = await addUser(db, username, parseRole(role));
      out(`Added ${user.username} (${user.role}). Password, shown only now: ${password}`);
      out('At their first sign-in they must choose their own before anything else.');
      return;
    }
    case 'list': {
      const users = await listUsers(db);
      if (users.length === 0)
        out('No users yet: add the first admin with `npm run hq -- users add <name> --role admin`.');
      for (const user of users)
        out(
          `${user.username.padEnd(24)} ${user.role.padEnd(11)} ${user.disabled ? 'disabled' : 'enabled '}  since ${user.createdAt}`,
        );
      return;
    }
    case 'reset': {
      const { user, password } = await changeUser(db, name(), { resetPassword: true });
      out(`New password for ${user.username}, shown only now: ${password!}`);
      return;
    }
    case 'disable':
    case 'enable': {
      const { user } = await changeUser(db, name(), { disabled: command === 'disable' });
      out(`${user.username} is ${user.disabled ? 'disabled' : 'enabled'}.`);
      return;
    }
    default:
      throw new HqError('usage', `users: add, list, reset, disable or enable\n${USERS_USAGE}`);
  }
}
