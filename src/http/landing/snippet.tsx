/** A copyable snippet with its file name, and the login step a client needs when the mirror asks for one. */
import type { Child } from "hono/jsx";
import type { Ctx } from "./context";

export function Snippet(props: { name: string; lang: string; code: string; kind: string }) {
  return (
    <figure class="snippet" data-kind={props.kind}>
      <figcaption>
        <span class="file">
          {props.name.split("/").map((part, i) => (
            <>
              {i > 0 ? (
                <>
                  /<wbr />
                </>
              ) : null}
              {part}
            </>
          ))}
        </span>
        <span class="lang">{props.lang}</span>
        <button type="button" class="copy" data-copy="">
          Copy
        </button>
      </figcaption>
      <pre>
        <code>{props.code}</code>
      </pre>
    </figure>
  );
}

export function Login(props: { ctx: Ctx; kind: string; lines: string[]; where: Child }) {
  if (!props.ctx.authRequired) return null;
  return (
    <>
      <Snippet
        name="Log in to the mirror"
        lang="shell"
        kind={`${props.kind}-login`}
        code={props.lines.join("\n")}
      />
      <p class="note">{props.where}</p>
    </>
  );
}
