namespace MassTransit.Patterns.Configuration;

/// <summary>
/// Options of a pattern or shared component: they carry their defaults and validate themselves, so a
/// bad value fails start-up with a message that names it.
/// </summary>
public interface IPatternOptions
{
    /// <summary>Adds a failure to <paramref name="validator"/> for each invalid option.</summary>
    void Validate(OptionsValidator validator);
}
