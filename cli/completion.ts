/**
 * `fabricctl completion bash`: a bash completion script generated from the commander program, so it always
 * offers exactly the commands, options and choices the parser accepts. Pure: the program in, the script out.
 */
import type { Command, Option } from 'commander';

interface Node {
  path: string;
  subcommands: string[];
  options: readonly Option[];
  /** Choices of the first positional argument (e.g. the shell of `completion`). */
  argChoices: readonly string[];
}

function walk(cmd: Command, path: string, inherited: readonly Option[], out: Node[]): void {
  const options = [...cmd.options, ...inherited];
  // visibleCommands: what help lists, including the implicit `help [command]`.
  out.push({
    path,
    subcommands: cmd
      .createHelp()
      .visibleCommands(cmd)
      .map((c) => c.name()),
    options,
    argChoices: cmd.registeredArguments[0]?.argChoices ?? [],
  });
  for (const sub of cmd.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name(), inherited.length ? inherited : cmd.options, out);
}

/** Single-quoted for bash: nothing in a name or choice is interpreted. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, '', [], nodes);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const valueOptions = new Set<string>();
  const choiceCases: string[] = [];
  const pathCases: string[] = [];
  for (const n of nodes) {
    const longs = [...n.options.map((o) => o.long).filter((l): l is string => !!l), '--help'];
    for (const o of n.options) {
      if (!o.long || !(o.required || o.optional)) continue;
      valueOptions.add(o.long);
      if (o.argChoices) choiceCases.push(`    ${sq(`${n.path}|${o.long}`)}) words=${sq(o.argChoices.join(' '))} ;;`);
    }
    if (n.argChoices.length) choiceCases.push(`    ${sq(`${n.path}|${n.path.split(' ').pop()}`)}) words=${sq(n.argChoices.join(' '))} ;;`);
    pathCases.push(`    ${sq(n.path)}) subs=${sq(n.subcommands.join(' '))}; opts=${sq(longs.join(' '))} ;;`);
  }
  return `# ${name} bash completion. Load it with: eval "$(${name} completion bash)"
# or install it: ${name} completion bash > /etc/bash_completion.d/${name}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" candidate w i skip=0 subs opts words
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The command path: leading words that name a (sub)command; option values are skipped.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$w" in
      --*=*) continue ;;
      -*) case " ${[...valueOptions].sort().join(' ')} " in *" $w "*) skip=1 ;; esac; continue ;;
    esac
    candidate="\${path:+$path }$w"
    case "$candidate" in
${nodes
  .filter((n) => n.path)
  .map((n) => `      ${sq(n.path)}) path="$candidate" ;;`)
  .join('\n')}
    esac
  done
  words=""
  case "$path|$prev" in
${choiceCases.join('\n')}
  esac
  if [[ -n "$words" ]]; then COMPREPLY=( $(compgen -W "$words" -- "$cur") ); return 0; fi
  case " ${[...valueOptions].sort().join(' ')} " in *" $prev "*) COMPREPLY=(); return 0 ;; esac
  case "$path" in
${pathCases.join('\n')}
    *) subs=""; opts="" ;;
  esac
  if [[ "$cur" == -* || -z "$subs" ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -W "$subs" -- "$cur") ); fi
  return 0
}
complete -F ${fn} ${name}
`;
}
