using System.Text;

namespace MassTransit.Patterns.Contextual;

/// <summary>Turns a context value into a key usable as a queue name fragment and a routing key.</summary>
public static class ContextKey
{
    /// <summary>The length of the suffix a key gets when its value cannot be used as it is: <c>-</c> and 8 hex digits.</summary>
    public const int HashSuffixLength = 9;

    /// <summary>True when <paramref name="value"/> is a valid fragment: not empty, only <c>[A-Za-z0-9._-]</c>, at most <paramref name="maxLength"/> characters.</summary>
    public static bool IsValid(string? value, int maxLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength)
            return false;
        foreach (var c in value)
            if (!IsAllowed(c))
                return false;
        return true;
    }

    /// <summary>
    /// The key of a context value, or null when the message belongs in the default queue (null or blank value,
    /// or an invalid one under <see cref="InvalidContextKeyHandling.DefaultQueue"/>). Distinct values get keys
    /// that are distinct even ignoring case (MassTransit's endpoint names and the in-memory transport's queues
    /// ignore case): a valid value is its own key only when it has no upper-case letter and does not end like a
    /// suffixed key (<c>-</c> and 8 hex digits); any other value is sanitized (characters outside
    /// <c>[A-Za-z0-9._-]</c> become <c>-</c>, cut to fit) and suffixed with <c>-</c> and the 32-bit FNV-1a hash of
    /// the value itself. So <c>tenant</c> stays <c>tenant</c>, <c>Tenant</c> becomes <c>Tenant-xxxxxxxx</c>, and a
    /// value written like another's suffixed key gets a suffix of its own. Two values share a key only when their
    /// sanitized forms agree and their hashes collide; the registry logs it when it sees both.
    /// </summary>
    public static string? Normalize(string? value, InvalidContextKeyHandling handling, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        var valid = IsValid(value, maxLength);
        if (valid && !NeedsSuffix(value))
            return value;
        if (!valid && handling == InvalidContextKeyHandling.DefaultQueue)
            return null;

        var builder = new StringBuilder(value.Length + HashSuffixLength);
        foreach (var c in value.Trim())
            builder.Append(IsAllowed(c) ? c : '-');
        var room = Math.Max(0, maxLength - HashSuffixLength);
        if (builder.Length > room)
            builder.Length = room;
        // The hash of the original keeps apart values that sanitize alike, differ only in case, or look suffixed.
        return builder.Append('-').Append(Fnv(value).ToString("x8")).ToString();
    }

    /// <summary>A stable bucket number for a key.</summary>
    public static int Bucket(string key, int buckets) => (int)(Fnv(key) % (uint)buckets);

    /// <summary>A valid value that cannot be its own key: it has an upper-case letter, or it ends like a suffixed key.</summary>
    static bool NeedsSuffix(string value)
    {
        foreach (var c in value)
            if (c is >= 'A' and <= 'Z')
                return true;
        if (value.Length < HashSuffixLength || value[^HashSuffixLength] != '-')
            return false;
        foreach (var c in value.AsSpan(value.Length - HashSuffixLength + 1))
            if (!char.IsAsciiHexDigit(c))
                return false;
        return true;
    }

    static uint Fnv(string value)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(value))
            hash = (hash ^ b) * 16777619u;
        return hash;
    }

    static bool IsAllowed(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '_' or '-';
}
