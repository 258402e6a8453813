namespace MassTransit.Patterns.Tests.Messages;

public record WorkItem(int Number);

public record Announcement(string Text);
