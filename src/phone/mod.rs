//! Phone participants: the IVR a caller goes through ([`ivr`]), the number
//! masking everyone but moderators sees ([`mask_number`]), the gateway
//! endpoint a SIP bridge connects to ([`gateway`]) and the frames it reads
//! ([`frame`]), and the actor that carries each call ([`leg`]).

pub mod frame;
pub mod gateway;
pub mod guard;
pub mod ivr;
pub mod leg;

/// What non-moderators see of a phone number: the `+` and the first two
/// digits (usually the country), then bullets, then the last three digits.
/// Short or odd inputs are masked entirely but for the last two characters.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    if n < 8 {
        let keep = n.min(2);
        return "•".repeat(n - keep) + &chars[n - keep..].iter().collect::<String>();
    }
    let head = if chars[0] == '+' { 3 } else { 2 };
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"•".repeat(n - head - 3));
    out.extend(&chars[n - 3..]);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_number;

    #[test]
    fn masks_keep_the_country_and_the_last_three_digits() {
        assert_eq!(mask_number("+441234567123"), "+44•••••••123");
        assert_eq!(mask_number("0612345678"), "06•••••678");
        assert_eq!(mask_number("1234"), "••34");
        assert_eq!(mask_number("+12367"), "••••67", "docs/protocol.md");
        assert_eq!(mask_number(""), "");
        for n in ["+441234567123", "0612345678", "+12025550143"] {
            let m = mask_number(n);
            assert!(!m.contains(&n[n.len() - 7..n.len() - 3]), "{m}");
        }
    }
}
