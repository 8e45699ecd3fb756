// A path of a project, moved with the project: paths under the project's directory start with the
// new directory instead; any other path stays. Apart from relocate-answers.ts so that the paths
// that answer without running load no term codec.
export const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

export function movePath(path: string, from: string, to: string): string {
  return isUnder(path, from) ? to + path.slice(from.length) : path;
}

// What stands for the project's directory where a path must not depend on it (a key kept for
// every checkout of the project).
export const PROJECT_MARK = "\0project";
