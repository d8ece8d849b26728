/**
 * A configuration assembled from other files keeps, for every field it
 * produces, the place in a source file that field came from, so the
 * validator's `file:line:column` points into the source (the template, the
 * `describe-*` output, the overlay) and never into a generated file.
 */
import { type FieldPath, formatPath, type ParsedDocument, type Position } from '../document.js'
import type { ConfigIssue } from '../errors.js'

/** One parsed source file, by the name the user gave. */
export interface SourceFile {
  readonly name: string
  readonly document: ParsedDocument
}

/** A place in a source file: the file and the field path inside it. */
export interface Origin {
  readonly file: SourceFile
  readonly path: FieldPath
}

/**
 * Records where each produced field came from. A field without its own
 * record is located by its nearest recorded ancestor, continued with the
 * rest of its path inside the source (a block copied as it is keeps every
 * position of its fields).
 */
export class OriginMap {
  readonly #origins = new Map<string, Origin>()

  /** `produced` (a path in the assembled configuration) came from `origin`. */
  set(produced: FieldPath, origin: Origin): void {
    this.#origins.set(key(produced), origin)
  }

  /** Where `produced` came from, or undefined when nothing above it is recorded. */
  locate(produced: FieldPath, field?: string): Position | undefined {
    const full = field === undefined ? produced : [...produced, field]
    for (let n = full.length; n >= 0; n--) {
      const origin = this.#origins.get(key(full.slice(0, n)))
      if (origin === undefined) continue
      const rest = full.slice(n)
      const inSource = [...origin.path, ...rest]
      // The key itself when the field is the last step and exists in the source; else the node.
      const position =
        field !== undefined && rest.length > 0
          ? origin.file.document.locate(inSource.slice(0, -1), field)
          : origin.file.document.locate(inSource)
      return position === undefined ? undefined : { ...position, source: origin.file.name }
    }
    return undefined
  }

  /** The source path `produced` came from: its nearest recorded ancestor's, continued. */
  originOf(produced: FieldPath): Origin | undefined {
    for (let n = produced.length; n >= 0; n--) {
      const origin = this.#origins.get(key(produced.slice(0, n)))
      if (origin !== undefined) return { file: origin.file, path: [...origin.path, ...produced.slice(n)] }
    }
    return undefined
  }

  /** The assembled `value` as a document whose positions point into the sources. */
  document(value: unknown): ParsedDocument {
    return { value, locate: (path, field) => this.locate(path, field) }
  }
}

function key(path: FieldPath): string {
  return JSON.stringify(path)
}

/** An error located at `origin`, with the source's own field path. */
export function sourceIssue(origin: Origin, message: string, field?: string): ConfigIssue {
  const position =
    field === undefined ? origin.file.document.locate(origin.path) : origin.file.document.locate(origin.path, field)
  return {
    path: formatPath(field === undefined ? origin.path : [...origin.path, field]),
    ...position,
    source: origin.file.name,
    message,
    severity: 'error',
  }
}
