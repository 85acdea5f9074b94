//! Neutralising text from sources and configs (titles, labels, summaries, periods, units,
//! errors, brief text) before it goes into a chat message, one function per platform, so that
//! a source cannot mention a whole channel, hide a link behind words or restyle the message.
//! statwatch's own markup (bold, code spans, headings) is added around the escaped text by
//! the platform's renderer, never passed through here.
//!
//! - Slack (mrkdwn and the top-level `text`): `&`, `<`, `>` as `&amp;`, `&lt;`, `&gt;`, as
//!   Slack's "Escaping text" asks, which leaves no `<!channel>`, `<@U…>` or `<url|label>`
//!   form; an `@` gets a word joiner after it, so `@channel`, `@here` and `@everyone` are text.
//! - Mattermost (Markdown): the characters of links, images, emphasis, code, headings,
//!   quotes, tables and autolinks are backslash-escaped (the backslash too, so an escape in
//!   the source cannot undo ours; with `[` and `]` escaped, `(` starts nothing); an `@` gets
//!   a word joiner after it,
//!   so no `@channel`, `@all`, `@here` or `@user` mention is made. Code spans take
//!   [`mattermost_code`] (a backslash is literal inside one).
//! - Teams (the Adaptive Card Markdown subset of TextBlock and Fact: bold, italic, lists,
//!   `[label](url)` links): emphasis and link characters are backslash-escaped and a word
//!   joiner goes between `]` and `(`, which breaks a link whether or not the client honours
//!   backslashes. A mention in a card needs `<at>` and an entity in `msteams.entities`, which
//!   statwatch never sends, and HTML is not rendered: `@` and `<` stay as they are. A list
//!   marker is left alone: a brief's own lists are written that way.

/// U+2060 WORD JOINER: invisible, and not a character of a name, so `@` + it + `channel` is
/// no mention on any platform.
const JOINER: char = '\u{2060}';

/// Text for Slack's mrkdwn or a message's `text`.
pub(crate) fn slack(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => {
                out.push('@');
                out.push(JOINER);
            }
            c => out.push(c),
        }
    }
    out
}

/// What a character takes of a Slack text limit once escaped by [`slack`].
pub(crate) fn slack_weight(c: char) -> usize {
    match c {
        '&' => "&amp;".len(),
        '<' | '>' => "&lt;".len(),
        '@' => 2,
        _ => 1,
    }
}

/// Text for Slack's `plain_text` (a header): Slack reads no markup there; only mentions are
/// broken.
pub(crate) fn slack_plain(s: &str) -> String {
    break_mentions(s)
}

/// Text for a Mattermost post (Markdown).
pub(crate) fn mattermost(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '`' | '#' | '[' | ']' | '<' | '>' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(JOINER);
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` as a Mattermost code span: fenced with one backtick more than its longest run of
/// backticks, so it cannot close the span early (nothing in a code span is a link or a
/// mention).
pub(crate) fn mattermost_code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space, which CommonMark strips.
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Text for a Teams Adaptive Card TextBlock or Fact.
pub(crate) fn teams(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`' | '~') {
            out.push('\\');
        }
        out.push(c);
        if c == ']' && chars.peek() == Some(&'(') {
            out.push(JOINER);
        }
    }
    out
}

/// A word joiner after every `@`.
fn break_mentions(s: &str) -> String {
    s.replace('@', &format!("@{JOINER}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "@channel <!channel> <https://evil|click> [x](https://evil) **b**";

    #[test]
    fn slack_leaves_no_mention_and_no_link_form() {
        let s = slack(HOSTILE);
        assert_eq!(
            s,
            "@\u{2060}channel &lt;!channel&gt; &lt;https://evil|click&gt; [x](https://evil) **b**"
        );
        assert_eq!(
            s.chars().count(),
            HOSTILE.chars().map(slack_weight).sum::<usize>()
        );
        assert_eq!(slack_plain("@here <!here>"), "@\u{2060}here <!here>");
    }

    #[test]
    fn mattermost_escapes_markdown_and_breaks_mentions() {
        assert_eq!(
            mattermost(HOSTILE),
            "@\u{2060}channel \\<!channel\\> \\<https://evil\\|click\\> \\[x\\](https://evil) \\*\\*b\\*\\*"
        );
        // A backslash of the source cannot undo an escape.
        assert_eq!(mattermost("\\[x](y)"), "\\\\\\[x\\](y)");
        assert_eq!(mattermost_code("a`b"), "``a`b``");
        assert_eq!(mattermost_code("`x"), "`` `x ``");
        assert_eq!(mattermost_code("plain"), "`plain`");
    }

    #[test]
    fn teams_breaks_links_and_emphasis() {
        let t = teams("[x](https://evil) **b** _i_\n- item");
        assert_eq!(
            t,
            "\\[x\\]\u{2060}(https://evil) \\*\\*b\\*\\* \\_i\\_\n- item"
        );
        assert_eq!(
            teams("a - b @channel <at>x</at>"),
            "a - b @channel <at>x</at>"
        );
    }
}
